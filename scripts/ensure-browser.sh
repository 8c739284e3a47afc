#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the console's browser tests (Playwright
# drives it through executable_path: `playwright install` would download a browser, which we never
# do). Silent and fast when it is already there; as root it is installed with apt-get, otherwise
# this prints the command and exits 1.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-browser: $CHROMIUM is missing and installing it needs root:" \
    "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "ensure-browser: apt-get install chromium"
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends chromium >/dev/null
test -x "$CHROMIUM" || { echo "ensure-browser: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
