"""Stripe as the payment rail, through the real stripe-python against a local fake Stripe:
customers, Checkout and Portal, the invoice mirror (idempotent, resumable), and webhooks
verified with real HMAC signatures, stored once and handled in any order."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.resources import Resources
from billing import invoices
from billing.models import BillingAccount, Invoice, StripeEvent
from billing.plans import PlanCode, add_months
from billing.quotas.base import Category
from billing.repository import BillingAccountRepository, InvoiceRepository
from infra.db import unit_of_work
from infra.jobs import Job
from infra.stripe import API_VERSION, StripeRequestError
from tenancy.models import AuditEvent
from tests.billing.conftest import StripeOn
from tests.billing.invoicing import all_invoices, close, org_on, put_usage, subscription_of
from tests.billing.support import org_session
from tests.support import fake_stripe
from tests.support.tenants import Tenant, sign_up
from workers.actor import run_inline

M, L = Category.METRICS, Category.LOGS
HANDLE = "billing.handle_stripe_event"
SYNC = "billing.sync_invoice"


def anchor_days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


async def deliver(client: httpx.AsyncClient, event: dict[str, Any], **sign: Any) -> httpx.Response:
    payload = json.dumps(event).encode()
    return await client.post(
        "/v1/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": fake_stripe.sign(payload, **sign),
            "Content-Type": "application/json",
        },
    )


async def account(resources: Resources, org_id: str) -> BillingAccount | None:
    async with org_session(resources, org_id) as (session, context):
        return await BillingAccountRepository(session, context).get()


async def stored_invoice(resources: Resources, org_id: str, invoice_id: str) -> Invoice:
    async with org_session(resources, org_id) as (session, context):
        found = await InvoiceRepository(session, context).get(invoice_id)
    assert found is not None
    return found


async def with_payment_method(client: httpx.AsyncClient, stripe: StripeOn, tenant: Tenant) -> str:
    """Checkout in setup mode, completed by the customer, confirmed by webhook."""
    response = await client.post(f"/v1/orgs/{tenant.org_id}/billing/checkout", headers=tenant.auth)
    assert response.status_code == 200, response.text
    session = stripe.fake.complete_setup(response.json()["id"])
    delivered = await deliver(client, fake_stripe.event("checkout.session.completed", session))
    assert delivered.status_code == 202, delivered.text
    assert await stripe.jobs.drain(HANDLE) == 1
    intent = stripe.fake.objects[session["setup_intent"]]
    return str(intent["payment_method"])


async def issued(
    client: httpx.AsyncClient, resources: Resources, stripe: StripeOn, name: str = "acme"
) -> tuple[Tenant, Invoice]:
    """A pro tenant with a closed period whose Stripe sync job is queued (not yet run)."""
    anchor = add_months(anchor_days_ago(3), -1)
    tenant = await org_on(client, resources, anchor, PlanCode.PRO, name=name)
    await put_usage(
        resources,
        tenant,
        anchor + timedelta(hours=5),
        {M: 10_000_000 + 12_345_678, L: 10**10 + 10**7},
    )
    (invoice,) = await close(resources, tenant.org_id, add_months(anchor, 1), collect=True)
    return tenant, invoice


class TestCustomerAndSessions:
    async def test_checkout_creates_the_customer_once_and_returns_a_setup_session(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant = await sign_up(client)
        url = f"/v1/orgs/{tenant.org_id}/billing/checkout"
        first = await client.post(
            url, headers=tenant.auth, json={"success_url": "https://app.example/ok"}
        )
        second = await client.post(url, headers=tenant.auth)
        assert first.status_code == second.status_code == 200, first.text
        assert first.json()["url"].startswith("https://checkout.stripe.com/")
        (created,) = stripe_on.fake.calls("POST", "/v1/customers")
        assert created.headers["idempotency-key"] == f"tg-customer-{tenant.org_id}"
        assert created.headers["stripe-version"] == API_VERSION
        assert created.params["metadata"] == {"tollgate_org_id": tenant.org_id}
        (customer,) = stripe_on.fake.of_type("customer")
        sessions = stripe_on.fake.calls("POST", "/v1/checkout/sessions")
        assert [s.params["customer"] for s in sessions] == [customer["id"]] * 2
        params = sessions[0].params
        assert (params["mode"], params["currency"], params["client_reference_id"]) == (
            "setup",
            "usd",
            tenant.org_id,
        )
        assert params["success_url"] == "https://app.example/ok"
        assert params["setup_intent_data"]["metadata"] == {"tollgate_org_id": tenant.org_id}
        stored = await account(resources, tenant.org_id)
        assert stored is not None
        assert stored.stripe_customer_id == customer["id"]

    async def test_a_lost_customer_id_is_recovered_by_the_idempotency_key(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant = await sign_up(client)
        url = f"/v1/orgs/{tenant.org_id}/billing/portal"
        assert (await client.post(url, headers=tenant.auth)).status_code == 200
        async with org_session(resources, tenant.org_id) as (session, context):
            found = await BillingAccountRepository(session, context).get()
            assert found is not None
            found.stripe_customer_id = None  # as if the first request's commit was lost
        response = await client.post(
            url, headers=tenant.auth, json={"return_url": "https://app.example/b"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["url"].startswith("https://billing.stripe.com/p/session/")
        assert len(stripe_on.fake.of_type("customer")) == 1
        portal = stripe_on.fake.calls("POST", "/v1/billing_portal/sessions")[-1]
        assert portal.params["return_url"] == "https://app.example/b"

    async def test_a_paid_plan_needs_a_payment_method_first(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant = await sign_up(client)
        url = f"/v1/orgs/{tenant.org_id}/subscription"
        refused = await client.put(url, json={"plan": "pro"}, headers=tenant.auth)
        assert refused.status_code == 402, refused.text
        problem = refused.json()
        assert problem["code"] == "payment_method_required"
        assert problem["checkout"] == f"/v1/orgs/{tenant.org_id}/billing/checkout"
        assert refused.headers["content-type"].startswith("application/problem+json")
        payment_method = await with_payment_method(client, stripe_on, tenant)
        (customer,) = stripe_on.fake.of_type("customer")
        assert customer["invoice_settings"]["default_payment_method"] == payment_method
        accepted = await client.put(url, json={"plan": "pro"}, headers=tenant.auth)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["plan"] == "pro"


class TestInvoiceMirror:
    async def test_the_close_mirrors_the_invoice_line_for_line(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        assert [job.args for job in stripe_on.jobs.named(SYNC)] == [(tenant.org_id, invoice.id)]
        assert await stripe_on.jobs.drain(SYNC) == 1
        ((ours, lines),) = await all_invoices(resources, tenant.org_id)
        (theirs,) = stripe_on.fake.of_type("invoice")
        assert ours.stripe_invoice_id == theirs["id"]
        assert ours.stripe_status == theirs["status"] == "open"
        assert theirs["collection_method"] == "charge_automatically"
        (draft,) = [
            c for c in stripe_on.fake.calls("POST", "/v1/invoices") if c.path == "/v1/invoices"
        ]
        assert draft.params["auto_advance"] == "false"  # Stripe never finalizes it on its own
        assert theirs["auto_advance"] is True  # set by our finalize: Stripe collects from here
        assert theirs["pending_invoice_items_behavior"] == "exclude"
        assert theirs["metadata"] == {
            "tollgate_invoice_id": invoice.id,
            "tollgate_org_id": tenant.org_id,
        }
        items = stripe_on.fake.of_type("invoiceitem")
        assert [(i["metadata"]["tollgate_line_id"], i["amount"]) for i in items] == [
            (line.id, int(line.amount * 100)) for line in lines
        ]
        assert [i["amount"] for i in items] == [5000, 123, 1, 0]  # 1.2345678 -> 1.23, 0.005 -> 0.01
        assert theirs["total"] == 5124 == int(ours.total * 100)
        assert items[1]["metadata"]["unit_price"] == "0.0000001"
        assert items[1]["period"] == {
            "start": int(ours.period_start.timestamp()),
            "end": int(ours.period_end.timestamp()),
        }

    async def test_syncing_again_changes_nothing(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        stripe_on.jobs.sent += [_job(tenant, invoice), _job(tenant, invoice)]
        assert await stripe_on.jobs.drain(SYNC) == 2
        assert len(stripe_on.fake.of_type("invoice")) == 1
        assert len(stripe_on.fake.of_type("invoiceitem")) == 4
        assert len(stripe_on.fake.calls("POST", "/v1/invoices/")) == 1  # one finalize

    async def test_a_sync_that_crashed_half_way_resumes_without_duplicates(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.fake.fail_next("POST", "/v1/invoiceitems", status=503, skip=2)
        with pytest.raises(StripeRequestError, match="invoice item"):
            await stripe_on.jobs.drain(SYNC)  # the job fails; the queue would retry it
        # the draft's id was committed before any item was added; two items exist there
        (draft,) = stripe_on.fake.of_type("invoice")
        kept = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert (kept.stripe_invoice_id, kept.stripe_status) == (draft["id"], "draft")
        assert len(stripe_on.fake.of_type("invoiceitem")) == 2
        stripe_on.jobs.sent.append(_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        assert theirs["status"] == "open"
        assert len(stripe_on.fake.of_type("invoiceitem")) == 4
        assert theirs["total"] == 5124
        ours = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert (ours.stripe_invoice_id, ours.stripe_status) == (theirs["id"], "open")

    async def test_an_invoice_finalized_before_our_commit_is_not_finalized_twice(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        async with org_session(resources, tenant.org_id) as (session, context):
            ours = await InvoiceRepository(session, context).get(invoice.id)
            assert ours is not None
            ours.stripe_status = "draft"  # the commit after finalize never happened
        stripe_on.jobs.sent.append(_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).stripe_status == "open"
        assert len(stripe_on.fake.calls("POST", "/v1/invoices/")) == 1

    async def test_the_periodic_run_requeues_a_lost_sync_job(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.jobs.sent.clear()  # the job was lost between commit and the queue
        async with unit_of_work(resources.session_factory) as session:
            await invoices.schedule_closes(
                session, now=datetime.now(UTC), settle=timedelta(0), collect=True
            )
        assert (tenant.org_id, invoice.id) in [job.args for job in stripe_on.jobs.named(SYNC)]

    async def test_zero_invoices_never_reach_stripe(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        anchor = add_months(anchor_days_ago(3), -1)
        tenant = await org_on(client, resources, anchor, PlanCode.FREE)
        (invoice,) = await close(resources, tenant.org_id, add_months(anchor, 1), collect=True)
        assert invoice.status == "paid"
        assert stripe_on.jobs.named(SYNC) == []

    async def test_an_invoice_the_operator_marks_paid_is_paid_out_of_band_in_stripe(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        response = await client.post(
            f"/v1/admin/orgs/{tenant.org_id}/invoices/{invoice.id}/mark-paid",
            headers={"Authorization": "Bearer tga_test_operator_token"},
        )
        assert response.status_code == 200, response.text
        assert await stripe_on.jobs.drain(SYNC) == 1
        (theirs,) = stripe_on.fake.of_type("invoice")
        assert (theirs["status"], theirs["paid_out_of_band"]) == ("paid", True)


def _job(tenant: Tenant, invoice: Invoice) -> Job:
    return Job(SYNC, (tenant.org_id, invoice.id))


class TestWebhookDoor:
    async def test_signatures_are_checked(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        event = fake_stripe.event("invoice.paid", {"id": "in_x", "object": "invoice"})
        payload = json.dumps(event).encode()
        url = "/v1/webhooks/stripe"
        assert (await client.post(url, content=payload)).status_code == 400
        for header in (
            fake_stripe.sign(payload, secret="whsec_someone_else"),
            fake_stripe.sign(payload + b" "),
            fake_stripe.sign(payload, timestamp=int(time.time()) - 301),
            "t=abc,v1=zz",
            "v0=deadbeef",
        ):
            response = await client.post(url, content=payload, headers={"Stripe-Signature": header})
            assert response.status_code == 401, header
            assert response.json()["code"] == "invalid_signature"
        assert stripe_on.jobs.named(HANDLE) == []
        accepted = await client.post(
            url,
            content=payload,
            headers={
                "Stripe-Signature": fake_stripe.sign(payload, timestamp=int(time.time()) - 290)
            },
        )
        assert accepted.status_code == 202, accepted.text

    async def test_an_event_is_stored_once_and_handled_once(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        event = fake_stripe.event("customer.created", {"id": "cus_x", "object": "customer"})
        first = await deliver(client, event)
        replay = await deliver(client, event)
        assert (first.status_code, replay.status_code) == (202, 202)
        assert (first.json()["duplicate"], replay.json()["duplicate"]) == (False, True)
        # the replay came before the handling: its job is queued again, and runs as a no-op
        assert [job.args for job in stripe_on.jobs.named(HANDLE)] == [(event["id"],)] * 2
        await stripe_on.jobs.drain(HANDLE)
        async with unit_of_work(resources.session_factory) as session:
            stored = (
                await session.scalars(select(StripeEvent).where(StripeEvent.id == event["id"]))
            ).one()
        assert stored.processed_at is not None
        assert stored.result == "ignored: no org"

    async def test_a_replay_requeues_an_event_whose_job_was_lost(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        assert (await deliver(client, paid)).json()["duplicate"] is False
        stripe_on.jobs.sent.clear()  # stored, but the job never reached the queue
        # Stripe delivers again (e.g. our answer was lost): the event is handled after all
        replay = await deliver(client, paid)
        assert (replay.status_code, replay.json()["duplicate"]) == (202, True)
        assert [job.args for job in stripe_on.jobs.named(HANDLE)] == [(paid["id"],)]
        await stripe_on.jobs.drain(HANDLE)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).status == "paid"
        # once handled, a replay queues nothing
        assert (await deliver(client, paid)).json()["duplicate"] is True
        assert stripe_on.jobs.named(HANDLE) == []

    async def test_the_periodic_run_requeues_an_event_whose_job_was_lost(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        handled = fake_stripe.event("customer.created", {"id": "cus_y", "object": "customer"})
        for event in (paid, handled):
            assert (await deliver(client, event)).status_code == 202
        stripe_on.jobs.sent = [j for j in stripe_on.jobs.sent if j.args != (paid["id"],)]
        await stripe_on.jobs.drain(HANDLE)  # only `handled` is handled; `paid`'s job was lost
        now = datetime.now(UTC)
        await run_inline("billing.close_period", now.timestamp())
        assert stripe_on.jobs.named(HANDLE) == []  # too recent: its job may still be queued
        await run_inline("billing.close_period", (now + timedelta(minutes=10)).timestamp())
        assert [job.args for job in stripe_on.jobs.named(HANDLE)] == [(paid["id"],)]
        await stripe_on.jobs.drain(HANDLE)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).status == "paid"
        await run_inline("billing.close_period", (now + timedelta(minutes=20)).timestamp())
        assert stripe_on.jobs.named(HANDLE) == []


class TestEvents:
    async def test_invoice_paid_marks_ours_paid_once(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        assert (await deliver(client, paid)).status_code == 202
        await stripe_on.jobs.drain(HANDLE)
        ours = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert (ours.status, ours.stripe_status) == ("paid", "paid")
        paid_at = ours.paid_at
        # the same event handled again (a retried job) changes nothing
        stripe_on.jobs.sent.append(_handle(paid))
        await stripe_on.jobs.drain(HANDLE)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).paid_at == paid_at
        async with org_session(resources, tenant.org_id) as (session, _):
            actions = (
                await session.scalars(
                    select(AuditEvent.action).where(AuditEvent.action == "invoice.paid")
                )
            ).all()
        assert actions == ["invoice.paid"]

    async def test_a_failure_reported_after_the_payment_changes_nothing(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        failed = fake_stripe.event(
            "invoice.payment_failed", dict(theirs), created=int(time.time()) - 60
        )
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        for event in (paid, failed):  # delivered out of order
            assert (await deliver(client, event)).status_code == 202
        await stripe_on.jobs.drain(HANDLE)
        ours = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert (ours.status, ours.payment_failed_at) == ("paid", None)
        assert (await subscription_of(resources, tenant.org_id)).status == "active"

    async def test_a_replayed_failure_after_recovery_changes_nothing(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        (theirs,) = stripe_on.fake.of_type("invoice")
        failed = fake_stripe.event("invoice.payment_failed", dict(theirs))
        await deliver(client, failed)
        await stripe_on.jobs.drain(HANDLE)
        assert (await subscription_of(resources, tenant.org_id)).status == "past_due"
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        await deliver(client, paid)
        await stripe_on.jobs.drain(HANDLE)
        assert (await subscription_of(resources, tenant.org_id)).status == "active"
        for event in (failed, paid, failed):  # Stripe's retries, in any order
            response = await deliver(client, event)
            assert (response.status_code, response.json()["duplicate"]) == (202, True)
        assert stripe_on.jobs.named(HANDLE) == []
        # the same handling job run again (a worker retry) changes nothing either
        stripe_on.jobs.sent += [_handle(failed), _handle(paid)]
        await stripe_on.jobs.drain(HANDLE)
        sub = await subscription_of(resources, tenant.org_id)
        assert (sub.status, sub.past_due_since) == ("active", None)
        ours = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert ours.status == "paid"

    async def test_a_payment_of_a_void_invoice_is_recorded_not_retried(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        await stripe_on.jobs.drain(SYNC)
        async with org_session(resources, tenant.org_id) as (session, context):
            ours = await InvoiceRepository(session, context).get(invoice.id)
            assert ours is not None
            ours.status = "void"
        (theirs,) = stripe_on.fake.of_type("invoice")
        paid = fake_stripe.event(
            "invoice.paid", stripe_on.fake.set_invoice_status(theirs["id"], "paid")
        )
        await deliver(client, paid)
        await stripe_on.jobs.drain(HANDLE)  # does not raise: a retry could not change the answer
        async with unit_of_work(resources.session_factory) as session:
            stored = await session.get(StripeEvent, paid["id"])
            assert stored is not None
            assert stored.processed_at is not None
            assert stored.result == "ignored: invoice void"
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).status == "void"

    async def test_an_event_for_an_invoice_found_by_metadata_only(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        # Stripe's event can arrive before our sync recorded the Stripe invoice id
        tenant, invoice = await issued(client, resources, stripe_on)
        await with_payment_method(client, stripe_on, tenant)
        customer = (await account(resources, tenant.org_id)).stripe_customer_id  # type: ignore[union-attr]
        obj = {
            "id": "in_early",
            "object": "invoice",
            "customer": customer,
            "status": "paid",
            "metadata": {"tollgate_invoice_id": invoice.id, "tollgate_org_id": tenant.org_id},
        }
        await deliver(client, fake_stripe.event("invoice.paid", obj))
        await stripe_on.jobs.drain(HANDLE)
        ours = await stored_invoice(resources, tenant.org_id, invoice.id)
        assert (ours.status, ours.stripe_invoice_id) == ("paid", "in_early")

    async def test_an_older_payment_method_event_does_not_replace_a_newer_one(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant = await sign_up(client)
        newest = await with_payment_method(client, stripe_on, tenant)
        customer = (await account(resources, tenant.org_id)).stripe_customer_id  # type: ignore[union-attr]
        older = {"id": "pm_older", "object": "payment_method", "customer": customer}
        stale = fake_stripe.event("payment_method.attached", older, created=int(time.time()) - 3600)
        await deliver(client, stale)
        await stripe_on.jobs.drain(HANDLE)
        assert (await account(resources, tenant.org_id)).payment_method_id == newest  # type: ignore[union-attr]
        fresh_pm = stripe_on.fake.complete_setup(
            (
                await client.post(f"/v1/orgs/{tenant.org_id}/billing/checkout", headers=tenant.auth)
            ).json()["id"]
        )
        intent = dict(stripe_on.fake.objects[fresh_pm["setup_intent"]])
        await deliver(
            client,
            fake_stripe.event("setup_intent.succeeded", intent, created=int(time.time()) + 1),
        )
        await stripe_on.jobs.drain(HANDLE)
        assert (await account(resources, tenant.org_id)).payment_method_id == intent[
            "payment_method"
        ]  # type: ignore[union-attr]

    async def test_an_event_naming_another_customer_touches_no_org(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        forged = {
            "id": "in_forged",
            "object": "invoice",
            "customer": "cus_not_ours",
            "metadata": {"tollgate_invoice_id": invoice.id, "tollgate_org_id": tenant.org_id},
        }
        await deliver(client, fake_stripe.event("invoice.paid", forged))
        await stripe_on.jobs.drain(HANDLE)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).status == "open"


def _handle(event: dict[str, Any]) -> Job:
    return Job(HANDLE, (event["id"],))
