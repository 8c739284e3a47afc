"""Time from a sample crossing a threshold to the first delivered notification, p50/p95 over
N incidents, against the target interval + group_wait + 5 s (issue 12, item 7b).

Run: `.venv/bin/python bench/alerting_latency_bench.py [incidents] [interval_seconds]` (defaults:
50, 1). It builds its own database `tollgate_bench_alerts` (dropped and recreated), starts its own
VictoriaMetrics tiers and one vmalert on free loopback ports in a temporary directory, and drives
the app in-process: a metric rule (`for: 0s`) on N series the project already sends (value 1),
then, one series at a time, a sample of 10 through the gateway; vmalert's notifications reach a
local receiver and are handed to the app's internal receiver at once (polled every 10 ms, as
`-notifier.url` would post them), the `notifications.deliver` jobs run inline, and the webhook
receiver's arrival time ends the measurement. `group_wait` is 0 here (the production default of
30 s adds exactly 30 s: the send is scheduled at fired + group_wait).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta

DATABASE = "tollgate_bench_alerts"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


os.environ.update(
    {
        "DATABASE_URL": f"postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/{DATABASE}",
        "DATABASE_ADMIN_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}",
        "OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
        "TOLLGATE_DATA_DIR": tempfile.mkdtemp(prefix="tollgate-latency-bench-"),
        "VMALERT_BASE_PORT": str(_free_port()),
        **{
            f"VM_{tier}_{mode}_URL": f"http://127.0.0.1:{port}"
            for tier, port in {t: _free_port() for t in ("SHORT", "STANDARD", "LONG")}.items()
            for mode in ("WRITE", "READ")
        },
    }
)
os.environ.setdefault("TOLLGATE_ENV", "test")  # the development notifier secret and secret key
os.environ.setdefault("TOLLGATE_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")

import workers.main  # noqa: E402, F401  (declares every actor, as a worker process does)
from api.app import create_app  # noqa: E402
from api.resources import Resources  # noqa: E402
from bench.alerting_delivery_bench import DELIVER, Recorder, reset_database  # noqa: E402
from infra import jobs  # noqa: E402
from infra.bootstrap import migrate  # noqa: E402
from infra.local import victoriametrics as vm  # noqa: E402
from infra.local import vmalert  # noqa: E402
from infra.settings import PROJECT_ROOT, Tier, get_settings  # noqa: E402
from telemetry.notifications import dispatch  # noqa: E402
from tests.support.asgi import app_client  # noqa: E402
from tests.support.gateway import project_writer, unique_metric  # noqa: E402
from tests.support.receiver import receiver  # noqa: E402
from tests.support.tenants import sign_up  # noqa: E402
from workers import runtime  # noqa: E402
from workers.actor import run_inline  # noqa: E402

INCIDENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
INTERVAL = int(sys.argv[2]) if len(sys.argv) > 2 else 1
GROUP_WAIT = 0
TIMEOUT = 60.0


async def run_jobs(recorder: Recorder, actor: str) -> int:
    due = [job for job in recorder.sent if job.actor == actor]
    recorder.sent = [job for job in recorder.sent if job.actor != actor]
    for job in due:
        await run_inline(job.actor, *job.args, **job.kwargs)
    return len(due)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main() -> None:
    settings = get_settings()
    dispatch.GROUPING = dispatch.Grouping(group_wait=timedelta(seconds=GROUP_WAIT))
    stores = vm.start_all(settings, cache_root=PROJECT_ROOT / ".cache")
    binary = vmalert.find_binary(settings)
    assert binary is not None
    resources = Resources.open(settings)
    with receiver() as relay, receiver() as hook:
        instance = vmalert.VmalertInstance(
            tier=Tier.SHORT,
            shard=0,
            port=vmalert.shard_port(settings, Tier.SHORT, 0),
            rules_dir=vmalert.shard_dir(settings, Tier.SHORT, 0),
            datasource_url=settings.vm_read_url(Tier.SHORT),
            remote_url=settings.vm_write_url(Tier.SHORT),
            notifier_url=relay.url,
            secret=vmalert.notifier_secret(settings),
        )
        vmalert.start(instance, binary)
        try:
            async with app_client(create_app(resources=resources)) as client:
                recorder = Recorder()
                jobs.install_sender(recorder)
                runtime.use_session_factory(resources.session_factory)
                owner = await sign_up(client, "latency")
                writer = await project_writer(client, owner)
                metric = unique_metric("bench_latency")

                async def send(series: int, value: float) -> None:
                    answer = await client.post(
                        writer.path("prometheus/api/v1/import/prometheus"),
                        content=f'{metric}{{i="{series}"}} {value}\n'.encode(),
                        headers=writer.auth | {"content-type": "text/plain"},
                    )
                    assert answer.status_code in (200, 204), answer.text

                for series in range(INCIDENTS):
                    await send(series, 1)
                for store in stores:
                    vm.flush(store)  # the series exist before the bench (a metric already sent)
                made = await client.post(
                    f"/v1/orgs/{owner.org_id}/notification-channels",
                    json={"name": "hook", "type": "webhook", "config": {"url": hook.url}},
                    headers=owner.auth,
                )
                assert made.status_code == 201, made.text
                rule = await client.post(
                    f"/v1/projects/{writer.project_id}/alert-rules",
                    json={
                        "name": "too high",
                        "expr": f"{metric} > 5",
                        "for": "0s",
                        "interval": f"{INTERVAL}s",
                        "channels": [made.json()["id"]],
                    },
                    headers=owner.auth,
                )
                assert rule.status_code == 201, rule.text
                await run_jobs(recorder, "alerting.render_project")
                await run_jobs(recorder, "alerting.reload_shard")
                await asyncio.sleep(3 * INTERVAL + 1)  # reloaded and evaluating

                auth = {"Authorization": f"Bearer {vmalert.notifier_secret(settings)}"}
                relayed = 0
                latencies: list[float] = []
                for series in range(INCIDENTS):
                    started = time.time()
                    await send(series, 10)
                    got = False
                    while not got:
                        assert time.time() - started < TIMEOUT, f"series {series}: no notification"
                        while relayed < len(relay.requests):
                            body = relay.requests[relayed].body
                            relayed += 1
                            answer = await client.post(
                                "/internal/alertmanager/api/v2/alerts", content=body, headers=auth
                            )
                            assert answer.status_code == 200, answer.text
                        await run_jobs(recorder, DELIVER)
                        for request in hook.requests:
                            labels = json.loads(request.body)["data"]["labels"]
                            got = got or labels.get("i") == str(series)
                        if not got:
                            await asyncio.sleep(0.01)
                    latencies.append(time.time() - started)
                target = INTERVAL + GROUP_WAIT + 5
                p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
                print(f"incidents: {len(latencies)}, deliveries received: {len(hook.requests)}")
                print(
                    f"interval {INTERVAL} s, group_wait {GROUP_WAIT} s -> target p95 <= {target} s"
                )
                print(
                    f"sample -> first delivered notification: p50 {p50:.2f} s, p95 {p95:.2f} s, "
                    f"min {min(latencies):.2f} s, max {max(latencies):.2f} s, "
                    f"mean {statistics.fmean(latencies):.2f} s"
                )
                print("RESULT:", "PASS" if p95 <= target else "FAIL")
                jobs.install_sender(None)
                await runtime.close()
                runtime.use_session_factory(None)
        finally:
            vmalert.stop(instance)
            vm.stop_all(settings)
    await resources.close()


if __name__ == "__main__":
    asyncio.run(reset_database(get_settings()))
    migrate(get_settings())
    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(os.environ["TOLLGATE_DATA_DIR"], ignore_errors=True)
