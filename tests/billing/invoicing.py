"""Helpers for invoicing tests: orgs on a chosen plan and anchor, usage in the ledger, closes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from api.resources import Resources
from billing import invoices, subscriptions
from billing.models import Invoice, InvoiceLine, Subscription
from billing.plans import PlanCode, period_at
from billing.quotas.base import Category
from billing.repository import InvoiceRepository, PlanRepository, UsageRepository
from infra.db import unit_of_work
from tests.billing.support import org_session
from tests.support.tenants import Tenant, sign_up

KEY = "key_a"


@dataclass
class Notified:
    """A notify callback that records the orgs it was told about."""

    orgs: list[str]

    async def __call__(self, org_id: str) -> None:
        self.orgs.append(org_id)


async def set_plan(
    resources: Resources, org_id: str, anchor: datetime, plan: PlanCode = PlanCode.FREE
) -> Subscription:
    """Put the org on `plan`, anchored at `anchor`, with the anchor's period open."""
    async with org_session(resources, org_id) as (session, context):
        subscription = await subscriptions.current_subscription(session, context)
        found = await PlanRepository(session).current_by_code(plan)
        assert found is not None
        period = period_at(anchor, anchor)
        subscription.plan_id = found[0]
        subscription.anchor = anchor
        subscription.current_period_start = period.start
        subscription.current_period_end = period.end
        await session.flush()
        return subscription


async def org_on(
    client: httpx.AsyncClient,
    resources: Resources,
    anchor: datetime,
    plan: PlanCode = PlanCode.PRO,
    name: str = "acme",
) -> Tenant:
    """A new tenant whose subscription is on `plan`, anchored at `anchor`."""
    tenant = await sign_up(client, name)
    await set_plan(resources, tenant.org_id, anchor, plan)
    return tenant


async def put_usage(
    resources: Resources,
    tenant: Tenant,
    hour: datetime,
    units: Mapping[Category, int],
    outcome: str = "accepted",
) -> None:
    """Ledger rows (SET semantics) for one hour of the tenant's default project."""
    async with org_session(resources, tenant.org_id) as (session, context):
        await UsageRepository(session, context).set_hours(
            [
                {
                    "hour": hour,
                    "project_id": tenant.project_id,
                    "key_id": KEY,
                    "category": category.value,
                    "outcome": outcome,
                    "quantity": quantity,
                }
                for category, quantity in units.items()
            ]
        )


async def close(
    resources: Resources,
    org_id: str,
    now: datetime,
    *,
    settle: timedelta = timedelta(0),
    collect: bool = False,
    notify: invoices.Notify | None = None,
) -> list[Invoice]:
    """One run of the per-org close, in its own unit of work (as the actor runs it)."""
    async with unit_of_work(resources.session_factory) as session:
        return await invoices.close_org(
            session,
            org_id,
            resources.quotas,
            now=now,
            settle=settle,
            collect=collect,
            notify=notify,
        )


async def all_invoices(
    resources: Resources, org_id: str
) -> list[tuple[Invoice, list[InvoiceLine]]]:
    """Every invoice of the org, oldest period first, with its lines."""
    async with org_session(resources, org_id) as (session, context):
        found = await session.scalars(
            select(Invoice).where(Invoice.org_id == org_id).order_by(Invoice.period_start)
        )
        repo = InvoiceRepository(session, context)
        return [(invoice, list(await repo.lines(invoice.id))) for invoice in found.all()]


async def subscription_of(resources: Resources, org_id: str) -> Subscription:
    """The org's subscription as stored."""
    async with org_session(resources, org_id) as (session, context):
        return await subscriptions.current_subscription(session, context)


async def plan_code(resources: Resources, plan_id: str) -> str:
    """A plan version's code."""
    async with unit_of_work(resources.session_factory) as session:
        return (await PlanRepository(session).by_id(plan_id)).code.value
