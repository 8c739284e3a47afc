"""Driving usage through the real quota kernel and the real flush, as the gateway and worker do."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.resources import Resources
from billing import metering, subscriptions
from billing.quotas.base import Admission, Category, Decision, admit_with_seed
from billing.repository import UsageRepository
from infra.db import unit_of_work
from infra.ids import new_id
from tenancy import accounts
from tenancy.authz import system_context
from tenancy.context import Actor, TenantContext
from tenancy.models import User
from tenancy.repository import UserRepository
from tests.support.tenants import Tenant

TEST_ACTOR = Actor("system", "tests")
KEY = "key_a"
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

LedgerRow = tuple[datetime, str, str, str, str, int]


async def new_user(resources: Resources, name: str) -> tuple[User, str]:
    """A password-less (SSO-style) user, address proven, and a session token for them."""
    async with unit_of_work(resources.session_factory) as session:
        user = User(
            id=new_id("usr"),
            email=f"{name}-{secrets.token_hex(4)}@example.com",
            name=name.title(),
            password_hash=None,
            email_verified_at=datetime.now(UTC),
        )
        await UserRepository(session).add(user)
        issued = await accounts.issue_session(session, user.id, None, None)
    return user, issued.token


async def new_tenant(resources: Resources, name: str = "acme") -> Tenant:
    """An owner, their org and its default project, made by the services signup uses.

    It skips only the password hash: argon2 costs about 0.3 s a tenant, and these tests need
    many tenants (tests/support/tenants.sign_up covers the signup path itself).
    """
    user, token = await new_user(resources, name)
    async with unit_of_work(resources.session_factory) as session:
        org, project = await accounts.create_org_for(session, user, name.title(), None, None)
    return Tenant(
        email=user.email,
        password="",
        token=token,
        user_id=user.id,
        org_id=org.id,
        org_slug=org.slug,
        project_id=project.id,
    )


@asynccontextmanager
async def org_session(
    resources: Resources, org_id: str
) -> AsyncIterator[tuple[AsyncSession, TenantContext]]:
    """A committed unit of work scoped to one org, as a worker would open it."""
    async with unit_of_work(resources.session_factory) as session:
        yield session, await system_context(session, org_id, TEST_ACTOR)


async def admit(
    resources: Resources,
    tenant: Tenant,
    units: Mapping[Category, int],
    *,
    at: datetime | None = None,
    key_id: str = KEY,
) -> Decision:
    """One ingest request's units through the Redis kernel, with the org's real policies."""
    at = at or datetime.now(UTC)
    async with org_session(resources, tenant.org_id) as (session, context):
        ent = await subscriptions.entitlements(session, context)
        period = ent.period(at)
        used = await metering.period_used(session, context, resources.quotas, period)

    async def load_used(org_id: str, period_id: str) -> Mapping[Category, int]:
        assert period_id == period.id
        async with org_session(resources, org_id) as (s, c):
            return await metering.period_used(s, c, resources.quotas, period)

    admission = Admission(
        org_id=tenant.org_id,
        project_id=tenant.project_id,
        key_id=key_id,
        period_id=period.id,
        period_end=period.end,
        units=units,
        at=at,
    )
    return await admit_with_seed(resources.quotas, admission, ent.policies(used), load_used)


async def flush(resources: Resources, now: datetime | None = None) -> int:
    """One run of the flush actor's body, in its own unit of work."""
    async with unit_of_work(resources.session_factory) as session:
        return await metering.flush(session, resources.quotas, now or datetime.now(UTC))


async def ledger(resources: Resources, org_id: str) -> set[LedgerRow]:
    """Every usage_hourly row of the org."""
    async with org_session(resources, org_id) as (session, context):
        rows = await UsageRepository(session, context).rows(*EVER)
    return {(r.hour, r.project_id, r.key_id, r.category, r.outcome, r.quantity) for r in rows}
