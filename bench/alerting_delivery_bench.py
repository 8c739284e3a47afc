"""1,000 firing incidents with 10 % silenced: deliveries sent = 900, none duplicated (issue 12,
item 7c).

Run: `.venv/bin/python bench/alerting_delivery_bench.py [incidents]` (default 1,000). It builds
its own database `tollgate_bench_alerts` with the migrations (dropped and recreated on each run),
drives the app in-process: signs up an org, makes a webhook channel aimed at a local receiver and a
silence matching `team="muted"`, posts vmalert-shaped alerts (every 10th labelled `team="muted"`)
to the internal Alertmanager receiver, then runs every `notifications.deliver` job inline — twice,
as an at-least-once broker may redeliver — and counts what the receiver got. `group_wait` is 0
here (the production default of 30 s only shifts the send time). Needs PostgreSQL and Redis
(`REDIS_URL`, default db 0); the loopback receiver is allowed with OUTBOUND_ALLOW_CIDRS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

DATABASE = "tollgate_bench_alerts"
# The local receiver and the in-process client are the test suite's helpers.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.update(
    {
        "DATABASE_URL": f"postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/{DATABASE}",
        "DATABASE_ADMIN_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}",
        "OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
    }
)
os.environ.setdefault("TOLLGATE_ENV", "test")  # the development notifier secret and secret key
os.environ.setdefault("TOLLGATE_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")

import asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import workers.main  # noqa: E402, F401  (declares every actor, as a worker process does)
from api.app import create_app  # noqa: E402
from api.resources import Resources  # noqa: E402
from infra import jobs, outbox  # noqa: E402
from infra.bootstrap import migrate  # noqa: E402
from infra.local import vmalert  # noqa: E402
from infra.settings import Settings, get_settings  # noqa: E402
from telemetry.notifications import dispatch  # noqa: E402
from tests.support.asgi import app_client  # noqa: E402
from tests.support.receiver import receiver  # noqa: E402
from tests.support.tenants import sign_up  # noqa: E402
from workers import runtime  # noqa: E402
from workers.actor import run_inline  # noqa: E402

INCIDENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
BATCH = 250
DELIVER = "notifications.deliver"


class Recorder:
    """The jobs units of work send after commit."""

    def __init__(self) -> None:
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)


async def reset_database(settings: Settings) -> None:
    server = make_url(settings.database_admin_url).set(database="postgres")
    conn = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


def alerts(rule_id: str, org: str, project: str, first: int, count: int) -> list[dict[str, object]]:
    """vmalert's payload: one firing alert per series, every 10th on a muted team."""
    now = datetime.now(UTC)
    return [
        {
            "labels": {
                "alertname": "bench",
                "tollgate_rule_id": rule_id,
                "tenant": org,
                "project": project,
                "instance": f"host-{n:05d}",
                "team": "muted" if n % 10 == 0 else "paged",
            },
            "annotations": {"summary": f"host-{n:05d} is down", "tollgate_value": "1"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
        }
        for n in range(first, first + count)
    ]


async def main() -> None:
    settings = get_settings()
    dispatch.GROUPING = dispatch.Grouping(group_wait=timedelta(0))
    resources = Resources.open(settings)
    with receiver() as inbox:
        async with app_client(create_app(resources=resources)) as client:
            recorder = Recorder()
            jobs.install_sender(recorder)
            runtime.use_session_factory(resources.session_factory)
            owner = await sign_up(client, "bench")
            made = await client.post(
                f"/v1/orgs/{owner.org_id}/notification-channels",
                json={"name": "hook", "type": "webhook", "config": {"url": inbox.url}},
                headers=owner.auth,
            )
            assert made.status_code == 201, made.text
            silence = await client.post(
                f"/v1/projects/{owner.project_id}/silences",
                json={
                    "matchers": [{"label": "team", "op": "=", "value": "muted"}],
                    "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    "comment": "bench",
                },
                headers=owner.auth,
            )
            assert silence.status_code == 201, silence.text
            rule = await client.post(
                f"/v1/projects/{owner.project_id}/alert-rules",
                json={
                    "name": "down",
                    "kind": "log",
                    "expr": "level:ERROR",
                    "threshold": {"op": ">", "value": 0, "window": "5m"},
                    "notification_channels": ["webhook"],
                },
                headers=owner.auth,
            )
            assert rule.status_code == 201, rule.text
            rule_id = rule.json()["id"]

            auth = {"Authorization": f"Bearer {vmalert.notifier_secret(settings)}"}
            started = time.perf_counter()
            fired = 0
            for first in range(0, INCIDENTS, BATCH):
                body = alerts(rule_id, owner.org_id, owner.project_id, first, BATCH)
                answer = await client.post(
                    "/internal/alertmanager/api/v2/alerts", json=body, headers=auth
                )
                assert answer.status_code == 200, answer.text
                fired += answer.json()["fired"]
            receive_s = time.perf_counter() - started

            at_once = sum(1 for job in recorder.sent if job.actor == DELIVER)
            # One unit of work relays at most RELAY_BATCH of its own jobs at once; the periodic
            # relay (every OUTBOX_RELAY_SECONDS, for rows older than RELAY_GRACE) sends the rest.
            await asyncio.sleep(outbox.RELAY_GRACE.total_seconds() + 0.5)
            await run_inline("system.relay_outbox", time.time())
            queued = [job for job in recorder.sent if job.actor == DELIVER]
            started = time.perf_counter()
            for job in queued:
                await run_inline(job.actor, *job.args, **job.kwargs)
            deliver_s = time.perf_counter() - started
            retries = [job for job in recorder.sent if job.actor == DELIVER][len(queued) :]
            received_once = len(inbox.requests)
            for job in queued:  # every message again: a broker's redelivery sends nothing more
                await run_inline(job.actor, *job.args, **job.kwargs)
            again = len(inbox.requests) - received_once

            got = [json.loads(r.body) for r in inbox.requests]
            per_incident = Counter(b["data"]["incident_id"] for b in got)
            per_message = Counter(r.headers["webhook-id"] for r in inbox.requests)
            muted = sum(1 for b in got if b["data"]["labels"].get("team") == "muted")
            print(f"incidents fired:            {fired}")
            print(f"silenced (team=muted):      {INCIDENTS // 10}")
            print(
                f"delivery jobs queued:       {len(queued)} ({at_once} relayed by the requests, "
                f"{len(queued) - at_once} by the periodic outbox relay)"
            )
            print(f"deliveries received:        {len(got)}")
            print(f"distinct incidents reached: {len(per_incident)}")
            print(f"duplicated incidents:       {sum(1 for c in per_incident.values() if c > 1)}")
            print(f"duplicated webhook-ids:     {sum(1 for c in per_message.values() if c > 1)}")
            print(f"silenced incidents reached: {muted}")
            print(f"retry jobs (failed sends):  {len(retries)}")
            print(f"sent again on redelivery:   {again}")
            print(f"receive {INCIDENTS} alerts: {receive_s:.2f} s")
            print(f"deliver: {deliver_s:.2f} s ({len(queued) / deliver_s:.0f} deliveries/s)")
            ok = len(got) == INCIDENTS - INCIDENTS // 10 and len(per_incident) == len(got) == len(
                per_message
            )
            print("RESULT:", "PASS" if ok and muted == 0 else "FAIL")
            jobs.install_sender(None)
            await runtime.close()
            runtime.use_session_factory(None)
    await resources.close()


if __name__ == "__main__":
    asyncio.run(reset_database(get_settings()))
    migrate(get_settings())
    asyncio.run(main())
