"""The `tollgate` command: migrate, run the product or one of its processes, manage stores."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence

import httpx

from infra.settings import get_settings


def _cmd_migrate(_: argparse.Namespace) -> int:
    from infra.bootstrap import migrate

    migrate(get_settings())
    print("tollgate: database migrated")
    return 0


def _cmd_stores(args: argparse.Namespace) -> int:
    from infra.local import victoriametrics as vm
    from infra.local import vmalert

    settings = get_settings()
    if args.action == "start":
        for instance in vm.start_all(settings):
            print(f"tollgate: victoriametrics {instance.tier.value} on {instance.url}")
        for alerter in vmalert.start_all(settings):
            print(f"tollgate: vmalert {alerter.tier.value}/{alerter.shard} on {alerter.url}")
    elif args.action == "stop":
        vmalert.stop_all(settings)
        vm.stop_all(settings)
        print("tollgate: local stores stopped")
    else:
        print(json.dumps({**vm.status(settings), **vmalert.status(settings)}, indent=2))
    return 0


def _cmd_worker(_: argparse.Namespace) -> int:
    os.execv(  # noqa: S606 (replaces this process with the dramatiq CLI)
        sys.executable,
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "4"],
    )


def _cmd_scheduler(_: argparse.Namespace) -> int:
    from infra.logging import configure_logging
    from workers.scheduler import Scheduler

    settings = get_settings()
    configure_logging(settings.log_level)
    scheduler = Scheduler(settings)
    scheduler.install_signal_handlers()
    scheduler.run()
    return 0


def _cmd_api(_: argparse.Namespace) -> int:
    from api.supervisor import children

    api = next(child for child in children(get_settings()) if child.name == "api")
    os.execv(sys.executable, api.argv)  # noqa: S606 (replaces this process with uvicorn)


def _wait_ready(url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _cmd_run(args: argparse.Namespace) -> int:
    from api.supervisor import Supervisor, children

    settings = get_settings()
    env = dict(os.environ)
    token = settings.admin_token.get_secret_value()
    if not token:
        token = "tga_" + secrets.token_urlsafe(24)
        env["TOLLGATE_ADMIN_TOKEN"] = token
    supervisor = Supervisor(children(settings), env)
    supervisor.start()
    url = settings.base_url
    if not _wait_ready(url):
        print("tollgate: the API did not become ready; see the logs above", file=sys.stderr)
        supervisor.stop()
        return 1
    # The outbound guard is on in dev too: say how to aim SSO or webhooks at a local service.
    allowed = settings.outbound_allow_cidrs
    reachable = (
        f"public addresses + {allowed}"
        if allowed
        else "public addresses only (OUTBOUND_ALLOW_CIDRS=127.0.0.0/8 adds loopback)"
    )
    banner = [
        "",
        f"Tollgate is running at {url}  (OpenAPI: {url}/schema)",
        f"Operator token (TOLLGATE_ADMIN_TOKEN): {token}",
        f"Tenant-aimed calls (SSO, webhooks) may reach: {reachable}",
    ]
    if args.demo:
        from api.demo import demo_banner

        banner += demo_banner(settings)
    banner.append("Press Ctrl-C to stop.")
    print("\n".join(banner), flush=True)
    return supervisor.wait()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="tollgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database and apply migrations").set_defaults(
        func=_cmd_migrate
    )
    run = sub.add_parser("run", help="run API, worker and scheduler together")
    run.add_argument("--demo", action="store_true", help="create and print a demo org and key")
    run.set_defaults(func=_cmd_run)
    sub.add_parser("api", help="run the API server only").set_defaults(func=_cmd_api)
    sub.add_parser("worker", help="run a Dramatiq worker").set_defaults(func=_cmd_worker)
    sub.add_parser("scheduler", help="run the periodic scheduler").set_defaults(func=_cmd_scheduler)
    stores = sub.add_parser("stores", help="local VictoriaMetrics tiers and vmalert shards")
    stores.add_argument("action", choices=["start", "stop", "status"])
    stores.set_defaults(func=_cmd_stores)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tollgate` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
