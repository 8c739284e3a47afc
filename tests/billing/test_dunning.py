"""Dunning: a failed payment makes the org past due; after the grace period the gateway refuses
its ingestion with 402 `org_suspended`; a payment makes it active again at once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from api.resources import Resources
from billing import dunning
from billing.plans import PlanCode, add_months
from billing.repository import InvoiceRepository
from infra.db import unit_of_work
from tenancy.models import AuditEvent
from tests.billing.conftest import RecordingSender, StripeOn
from tests.billing.invoicing import Notified, close, set_plan, subscription_of
from tests.billing.support import org_session
from tests.billing.test_stripe import HANDLE, SYNC, deliver, issued
from tests.support import fake_stripe
from tests.support.gateway import Writer, simple_json, unique_metric, writer
from tests.support.tenants import Tenant, project_key
from workers.actor import run_inline

OPERATOR = {"Authorization": "Bearer tga_test_operator_token"}
GRACE = timedelta(days=7)


async def actions(resources: Resources, org_id: str) -> list[str]:
    async with org_session(resources, org_id) as (session, _):
        found = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.id)
        )
        return list(found.all())


async def fail_payment(resources: Resources, tenant: Tenant, invoice_id: str, at: datetime) -> bool:
    async with org_session(resources, tenant.org_id) as (session, context):
        invoice = await InvoiceRepository(session, context).get(invoice_id, for_update=True)
        assert invoice is not None
        return await dunning.payment_failed(session, context, invoice, now=at)


async def suspend(resources: Resources, at: datetime, notify: Notified | None = None) -> list[str]:
    async with unit_of_work(resources.session_factory) as session:
        return await dunning.suspend_overdue(session, now=at, grace=GRACE, notify=notify)


async def ingest_status(
    client: httpx.AsyncClient, path: str, auth: dict[str, str]
) -> httpx.Response:
    return await client.post(path, json=simple_json(unique_metric()), headers=auth)


async def wait_for_status(
    client: httpx.AsyncClient, path: str, auth: dict[str, str], status: int, within: float = 4.0
) -> httpx.Response:
    """Ingest until the gateway answers `status` (the entitlement cache lives 5 s: an answer
    within 4 s proves the pub/sub eviction, not the expiry)."""
    deadline = time.monotonic() + within
    while True:
        response = await ingest_status(client, path, auth)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def open_invoice(client: httpx.AsyncClient, resources: Resources, tenant: Tenant) -> str:
    anchor = add_months(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2), -1)
    await set_plan(resources, tenant.org_id, anchor, PlanCode.PRO)
    (invoice,) = await close(resources, tenant.org_id, add_months(anchor, 1))
    assert invoice.status == "open"
    return invoice.id


class TestDunning:
    async def test_a_failed_payment_makes_the_org_past_due_once(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        w = await writer(client)
        invoice_id = await open_invoice(client, resources, w.tenant)
        at = datetime.now(UTC)
        assert await fail_payment(resources, w.tenant, invoice_id, at)
        assert not await fail_payment(resources, w.tenant, invoice_id, at + timedelta(days=3))
        sub = await subscription_of(resources, w.tenant.org_id)
        assert (sub.status, sub.past_due_since) == ("past_due", at)  # a retry does not restart it
        assert (await actions(resources, w.tenant.org_id))[-2:] == [
            "payment.failed",
            "subscription.past_due",
        ]
        # past due still ingests
        assert (await ingest_status(client, w.path("ingest/metrics"), w.auth)).status_code == 200

    async def test_suspension_waits_for_the_grace_period(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = (await writer(client)).tenant
        invoice_id = await open_invoice(client, resources, tenant)
        at = datetime.now(UTC)
        await fail_payment(resources, tenant, invoice_id, at)
        assert tenant.org_id not in await suspend(resources, at + GRACE - timedelta(seconds=1))
        notified = Notified([])
        assert tenant.org_id in await suspend(resources, at + GRACE, notified)
        assert tenant.org_id in notified.orgs
        assert (await subscription_of(resources, tenant.org_id)).status == "suspended"
        assert tenant.org_id not in await suspend(resources, at + GRACE * 2)  # once
        assert (await actions(resources, tenant.org_id))[-1] == "subscription.suspended"

    async def test_the_operator_s_payment_lifts_the_suspension(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        w = await writer(client)
        invoice_id = await open_invoice(client, resources, w.tenant)
        at = datetime.now(UTC) - GRACE - timedelta(hours=1)
        await fail_payment(resources, w.tenant, invoice_id, at)
        async with unit_of_work(resources.session_factory) as session:
            await dunning.suspend_overdue(
                session,
                now=datetime.now(UTC),
                grace=GRACE,
                notify=resources.admission.publish_invalidation,
            )
        refused = await wait_for_status(client, w.path("ingest/metrics"), w.auth, 402)
        assert refused.status_code == 402, refused.text
        paid = await client.post(
            f"/v1/admin/orgs/{w.tenant.org_id}/invoices/{invoice_id}/mark-paid", headers=OPERATOR
        )
        assert paid.status_code == 200, paid.text
        assert (await subscription_of(resources, w.tenant.org_id)).status == "active"
        accepted = await wait_for_status(client, w.path("ingest/metrics"), w.auth, 200)
        assert accepted.status_code == 200, accepted.text
        assert (await actions(resources, w.tenant.org_id))[-2:] == [
            "invoice.paid",
            "subscription.reactivated",
        ]

    async def test_recovery_waits_for_every_failed_invoice(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = (await writer(client)).tenant
        anchor = add_months(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2), -2)
        await set_plan(resources, tenant.org_id, anchor, PlanCode.PRO)
        first, second = await close(resources, tenant.org_id, add_months(anchor, 2))
        at = datetime.now(UTC)
        await fail_payment(resources, tenant, first.id, at)
        await fail_payment(resources, tenant, second.id, at)
        url = f"/v1/admin/orgs/{tenant.org_id}/invoices/{{}}/mark-paid"
        await client.post(url.format(first.id), headers=OPERATOR)
        assert (await subscription_of(resources, tenant.org_id)).status == "past_due"
        await client.post(url.format(second.id), headers=OPERATOR)
        assert (await subscription_of(resources, tenant.org_id)).status == "active"


class TestThroughStripe:
    async def test_failed_payment_then_suspension_then_payment_then_recovery(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        stripe_on: StripeOn,
        recording: RecordingSender,
    ) -> None:
        tenant, _ = await issued(client, resources, stripe_on)
        w = await writer_for(client, tenant)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        ingest = w.path("ingest/metrics")
        assert (await ingest_status(client, ingest, w.auth)).status_code == 200

        # Stripe's charge fails: past due, ingestion continues during the grace period
        failed_at = datetime.now(UTC)
        await deliver(client, fake_stripe.event("invoice.payment_failed", dict(theirs)))
        await stripe_on.jobs.drain(HANDLE)
        assert (await subscription_of(resources, tenant.org_id)).status == "past_due"
        await run_inline("billing.enforce_dunning", (failed_at + GRACE / 2).timestamp())
        assert (await ingest_status(client, ingest, w.auth)).status_code == 200

        # the grace period is over: the periodic actor suspends, the gateway refuses with 402
        await run_inline(
            "billing.enforce_dunning", (failed_at + GRACE + timedelta(minutes=1)).timestamp()
        )
        refused = await wait_for_status(client, ingest, w.auth, 402)
        assert refused.status_code == 402, refused.text
        problem = refused.json()
        assert problem["code"] == "org_suspended"
        assert refused.headers["content-type"].startswith("application/problem+json")

        # the customer pays (e.g. a new card in the portal): active again at once
        paid = stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        await deliver(client, fake_stripe.event("invoice.paid", paid))
        await stripe_on.jobs.drain(HANDLE)
        sub = await subscription_of(resources, tenant.org_id)
        assert (sub.status, sub.past_due_since) == ("active", None)
        accepted = await wait_for_status(client, ingest, w.auth, 200)
        assert accepted.status_code == 200, accepted.text
        assert [
            a
            for a in await actions(resources, tenant.org_id)
            if a.startswith(("subscription.", "payment."))
        ][-4:] == [
            "payment.failed",
            "subscription.past_due",
            "subscription.suspended",
            "subscription.reactivated",
        ]


async def writer_for(client: httpx.AsyncClient, tenant: Tenant) -> Writer:
    """A project key of the tenant's default project."""
    created = await project_key(client, tenant)
    return Writer(tenant, created["key"])
