#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer where DATABASE_ADMIN_URL and REDIS_URL point.
# Local (loopback) services that are down are installed from Debian packages and started when we
# are root; otherwise this prints what is missing and exits 1. Remote services are only checked.
# Silent and fast when both already answer.
#
# Checks are called through variables (SC2317); the bash -c snippets expand in the child (SC2016).
# shellcheck disable=SC2317,SC2016
set -euo pipefail

PG_URL="${DATABASE_ADMIN_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/tollgate}"
RD_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WAIT_SECONDS=30

# host_of URL / port_of URL DEFAULT: the authority part of a URL, IPv6 brackets removed.
authority() { local rest="${1#*://}"; rest="${rest%%[/?#]*}"; echo "${rest##*@}"; }
host_of() {
  local auth; auth="$(authority "$1")"
  if [[ $auth == \[* ]]; then auth="${auth#\[}"; echo "${auth%%]*}"; return; fi
  auth="${auth%%:*}"
  echo "${auth:-127.0.0.1}"
}
port_of() {
  local auth; auth="$(authority "$1")"
  auth="${auth##*]}"
  if [[ $auth == *:* && -n ${auth##*:} ]]; then echo "${auth##*:}"; else echo "$2"; fi
}
is_loopback() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 ]]; }
is_root() { [[ $(id -u) -eq 0 ]]; }

tcp_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

pg_up() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$1" -p "$2" -t 3
  else
    tcp_open "$1" "$2"
  fi
}

redis_up() {
  local reply
  if [[ $RD_URL == rediss://* ]]; then
    tcp_open "$1" "$2"
    return
  fi
  if command -v redis-cli >/dev/null; then
    reply="$(timeout 3 redis-cli -h "$1" -p "$2" ping 2>&1 || true)"
  else
    reply="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"; printf "PING\r\n" >&3; head -c 64 <&3' \
      "$1" "$2" 2>/dev/null || true)"
  fi
  # A server that wants a password still answers: NOAUTH means it is up.
  [[ $reply == *PONG* || $reply == *NOAUTH* ]]
}

wait_for() { # NAME CHECK HOST PORT
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$2" "$3" "$4"; do
    if ((SECONDS > deadline)); then
      echo "ensure-system: $1 does not answer on $3:$4 after ${WAIT_SECONDS}s:" \
        "check its log and that it listens on that port" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "ensure-system: $1 is up on $3:$4"
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  echo "ensure-system: apt-get install $*"
  apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

newest() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1; }

start_postgres() { # HOST PORT
  local fresh=0 version
  if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    apt_install postgresql || return 1
    fresh=1
  fi
  version="$(newest /etc/postgresql)"
  if [[ -z $version ]]; then
    version="$(newest /usr/lib/postgresql)"
    pg_createcluster "$version" main >/dev/null || return 1
    fresh=1
  fi
  if ((fresh)); then
    # Only a cluster we just created: the app and the admin URL log in over loopback TCP
    # without a password, as on the project's machines. An existing pg_hba is left alone.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    { printf '# added by scripts/ensure-system.sh (development machine)\n'
      printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
      cat "$hba"; } >"$hba.new" || return 1
    chown --reference="$hba" "$hba.new" && chmod --reference="$hba" "$hba.new" &&
      mv "$hba.new" "$hba" || return 1
  fi
  echo "ensure-system: starting PostgreSQL $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    echo "ensure-system: pg_ctlcluster start failed; waiting in case it is already starting" >&2
  wait_for PostgreSQL pg_up "$1" "$2"
}

start_redis() { # HOST PORT
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  echo "ensure-system: starting Redis on port $2"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$2" --save "" --appendonly no \
    >/dev/null || return 1
  wait_for Redis redis_up "$1" "$2"
}

# check NAME URL-VAR HOST PORT UP-CHECK START-FN PACKAGE START-HINT
# (called under ||, where set -e is off: every step below returns its failure explicitly)
check() {
  local name=$1 var=$2 host=$3 port=$4 up=$5 start=$6 package=$7 hint=$8
  if "$up" "$host" "$port"; then
    return 0
  fi
  if ! is_loopback "$host"; then
    echo "ensure-system: $name does not answer on $host:$port ($var). It is not local, so" \
      "nothing is installed: start it there or fix $var." >&2
    return 1
  fi
  if is_root; then
    "$start" "$host" "$port"
    return
  fi
  echo "ensure-system: $name does not answer on $host:$port ($var) and installing it needs root." \
    "Run 'sudo bash scripts/ensure-system.sh', or by hand: apt-get install -y $package;" \
    "$hint" >&2
  return 1
}

failed=0
check PostgreSQL DATABASE_ADMIN_URL "$(host_of "$PG_URL")" "$(port_of "$PG_URL" 5432)" \
  pg_up start_postgres postgresql \
  "pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" || failed=1
check Redis REDIS_URL "$(host_of "$RD_URL")" "$(port_of "$RD_URL" 6379)" \
  redis_up start_redis redis-server \
  "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port $(port_of "$RD_URL" 6379) --save '' --appendonly no" ||
  failed=1
exit "$failed"
