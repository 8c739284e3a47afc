"""Notification tests: real receivers, a real SMTP server, jobs recorded and run inline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers.main  # noqa: F401  (declares every actor, as a worker process does)
from infra import jobs
from infra.db import unit_of_work
from infra.ids import new_id
from infra.mail import SmtpMailer, SmtpTarget
from infra.settings import Settings
from telemetry.alerting import notify
from telemetry.alerting.models import AlertIncident, AlertRule
from telemetry.notifications import dispatch
from tenancy.authz import system_context
from tenancy.context import Actor
from tests.support.receiver import Receiver, receiver
from tests.support.smtp import MAIL_FROM, SmtpServer
from tests.support.tenancy import use_fast_password_hashing
from tests.support.tenants import Tenant, sign_up
from workers import runtime
from workers.actor import run_inline
from workers.actors import accounts as account_actors

DELIVER = "notifications.deliver"
TEST_ACTOR = Actor("system", "tests")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@pytest.fixture(autouse=True)
def no_group_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triggers leave at once unless a test sets the timers itself."""
    monkeypatch.setattr(dispatch, "GROUPING", dispatch.Grouping(group_wait=timedelta(0)))


@dataclass
class Courier:
    """Records the jobs units of work send after commit and runs notification jobs inline."""

    sent: list[jobs.Job] = field(default_factory=list)

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)

    def pending(self) -> list[jobs.Job]:
        return [job for job in self.sent if job.actor == DELIVER]

    async def run(self, *, rounds: int = 1) -> int:
        """Run the recorded delivery jobs (and, with rounds > 1, the retries they queue)."""
        ran = 0
        for _ in range(rounds):
            todo = self.pending()
            self.sent = [job for job in self.sent if job.actor != DELIVER]
            for job in todo:
                await run_inline(job.actor, *job.args, **job.kwargs)
            ran += len(todo)
        return ran


@dataclass
class Receivers:
    """One local receiver per HTTP channel type (PagerDuty and SMS via the settings)."""

    slack: Receiver
    pagerduty: Receiver
    webhook: Receiver
    sms: Receiver

    def bodies(self, name: str) -> list[dict[str, Any]]:
        got: Receiver = getattr(self, name)
        return [json.loads(r.body) for r in got.requests]


@pytest.fixture
def receivers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receivers]:
    with receiver() as slack, receiver() as pd, receiver() as hook, receiver() as sms:
        monkeypatch.setattr(settings, "pagerduty_events_url", pd.url)
        monkeypatch.setattr(settings, "sms_api_url", sms.url.rsplit("/", 1)[0])
        yield Receivers(slack, pd, hook, sms)


@pytest.fixture
async def courier(
    client: httpx.AsyncClient,
    smtp_server: SmtpServer,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Courier]:
    """Jobs recorded (after the app's lifespan installed its sender), mail to the SMTP server."""
    smtp_server.clear()
    monkeypatch.setattr(settings, "smtp_url", SecretStr(smtp_server.url))
    recorder = Courier()
    jobs.install_sender(recorder)
    runtime.use_session_factory(session_factory)
    account_actors.use_mailer(SmtpMailer(SmtpTarget.parse(smtp_server.url), MAIL_FROM))
    yield recorder
    account_actors.use_mailer(None)
    await runtime.close()
    runtime.use_session_factory(None)
    jobs.install_sender(None)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "paged")


async def create_channel(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, config: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/notification-channels",
        json={"name": f"{kind} channel", "type": kind, "config": config} | extra,
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_policy(
    client: httpx.AsyncClient, tenant: Tenant, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/escalation-policies",
        json={"name": "on call", "steps": steps},
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@dataclass
class Incidents:
    """Rules and incidents written through the alerting models, as the incident code does."""

    factory: async_sessionmaker[AsyncSession]
    tenant: Tenant

    async def rule(self, channels: list[str], policy: str | None = None) -> str:
        async with unit_of_work(self.factory) as session:
            await system_context(session, self.tenant.org_id, TEST_ACTOR)
            rule = AlertRule(
                id=new_id("alr"),
                org_id=self.tenant.org_id,
                project_id=self.tenant.project_id,
                name="High error rate",
                kind="metric",
                expr="rate(errors_total[5m]) > 1",
                channels=channels,
                escalation_policy=policy,
            )
            session.add(rule)
        return rule.id

    async def fire(self, rule_id: str, labels: dict[str, str], at: datetime | None = None) -> str:
        at = at or datetime.now(UTC)
        async with unit_of_work(self.factory) as session:
            context = await system_context(session, self.tenant.org_id, TEST_ACTOR)
            incident = AlertIncident(
                id=new_id("inc"),
                org_id=self.tenant.org_id,
                project_id=self.tenant.project_id,
                rule_id=rule_id,
                fingerprint=hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest(),
                labels=labels,
                annotations={"summary": "Errors above 1/s", "description": "checkout is failing"},
                severity="critical",
                status="firing",
                value=3.5,
                started_at=at,
                last_fired_at=at,
            )
            session.add(incident)
            await session.flush()
            await notify.incident_changed(session, context, incident, "fired")
        return incident.id

    async def change(self, incident_id: str, status: str, by: str = "usr_tester") -> None:
        async with unit_of_work(self.factory) as session:
            context = await system_context(session, self.tenant.org_id, TEST_ACTOR)
            incident = await session.get(AlertIncident, incident_id)
            assert incident is not None
            incident.status = status
            now = datetime.now(UTC)
            if status == "acknowledged":
                incident.acknowledged_at, incident.acknowledged_by = now, by
            else:
                incident.resolved_at, incident.resolved_by = now, by
            await session.flush()
            await notify.incident_changed(session, context, incident, status)


@pytest.fixture
def incidents(session_factory: async_sessionmaker[AsyncSession], owner: Tenant) -> Incidents:
    return Incidents(session_factory, owner)
