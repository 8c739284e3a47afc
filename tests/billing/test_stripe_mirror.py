"""The Stripe invoice mirror past Stripe's 24 h idempotency window: a failure after the draft is
made never leads to a second invoice or an early charge, and the draft is reconciled, not padded.

The fake Stripe forgets idempotency keys after 24 h and finalizes drafts that have
`auto_advance` an hour after their creation, as Stripe does; its clock is moved by the tests.
"""

from __future__ import annotations

import httpx
import pytest

from api.resources import Resources
from billing.models import Invoice
from infra.jobs import Job
from infra.stripe import StripeRequestError
from tests.billing.conftest import StripeOn
from tests.billing.invoicing import all_invoices
from tests.billing.support import org_session
from tests.billing.test_stripe import SYNC, issued, stored_invoice
from tests.support.tenants import Tenant

DAY_AND_AN_HOUR = 25 * 3600


def sync_job(tenant: Tenant, invoice: Invoice) -> Job:
    return Job(SYNC, (tenant.org_id, invoice.id))


async def mirrored_exactly(
    resources: Resources, stripe: StripeOn, tenant: Tenant, *, injected: int = 0
) -> None:
    """One Stripe invoice, finalized once, whose items are our lines, cent for cent.

    `injected`: finalize requests the test made fail (they reached the fake, changed nothing)."""
    ((ours, lines),) = await all_invoices(resources, tenant.org_id)
    (theirs,) = stripe.fake.of_type("invoice")
    items = stripe.fake.of_type("invoiceitem")
    assert sorted((i["metadata"]["tollgate_line_id"], i["amount"]) for i in items) == sorted(
        (line.id, int(line.amount * 100)) for line in lines
    )
    finalized = [
        c for c in stripe.fake.calls("POST", "/v1/invoices/") if c.path.endswith("/finalize")
    ]
    assert len(finalized) == 1 + injected
    assert (theirs["status"], theirs["total"]) == ("open", int(ours.total * 100))
    assert (ours.stripe_invoice_id, ours.stripe_status) == (theirs["id"], "open")


class TestAFailureAfterTheDraftNeverChargesTwice:
    async def test_a_retry_a_day_later_fills_the_same_draft(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.fake.fail_next("POST", "/v1/invoiceitems", status=503, skip=2)
        with pytest.raises(StripeRequestError, match="invoice item"):
            await stripe_on.jobs.drain(SYNC)
        (draft,) = stripe_on.fake.of_type("invoice")
        # a day and an hour on: Stripe forgot every key, and nothing charged the half-made draft
        stripe_on.fake.advance(DAY_AND_AN_HOUR)
        assert stripe_on.fake.objects[draft["id"]]["status"] == "draft"
        stripe_on.jobs.sent.append(sync_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        await mirrored_exactly(resources, stripe_on, tenant)

    async def test_a_draft_whose_id_we_lost_is_found_again_not_made_twice(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.fake.fail_next("POST", "/v1/invoiceitems", status=503, skip=1)
        with pytest.raises(StripeRequestError):
            await stripe_on.jobs.drain(SYNC)
        async with org_session(resources, tenant.org_id) as (session, _):
            ours = await session.get(Invoice, invoice.id)
            assert ours is not None
            ours.stripe_invoice_id = ours.stripe_status = None  # as if that commit had failed
        stripe_on.fake.advance(DAY_AND_AN_HOUR)
        stripe_on.jobs.sent.append(sync_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        await mirrored_exactly(resources, stripe_on, tenant)

    async def test_a_failed_finalize_is_retried_on_the_same_invoice(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.fake.fail_next("POST", "/v1/invoices/", status=503)  # the finalize
        with pytest.raises(StripeRequestError, match="finalize"):
            await stripe_on.jobs.drain(SYNC)
        stripe_on.fake.advance(DAY_AND_AN_HOUR)
        stripe_on.jobs.sent.append(sync_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        await mirrored_exactly(resources, stripe_on, tenant, injected=1)


class TestTheDraftIsReconciled:
    async def test_duplicates_foreign_items_and_wrong_amounts_are_corrected(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        tenant, invoice = await issued(client, resources, stripe_on)
        stripe_on.fake.fail_next("POST", "/v1/invoices/", status=503)  # stop before finalize
        with pytest.raises(StripeRequestError):
            await stripe_on.jobs.drain(SYNC)
        fake = stripe_on.fake
        first, second, *_ = fake.of_type("invoiceitem")
        fake.objects["ii_duplicate"] = dict(first, id="ii_duplicate")  # a line added twice
        fake.objects["ii_foreign"] = dict(first, id="ii_foreign", metadata={}, amount=999)
        fake.objects[second["id"]]["amount"] += 7
        stripe_on.jobs.sent.append(sync_job(tenant, invoice))
        await stripe_on.jobs.drain(SYNC)
        await mirrored_exactly(resources, stripe_on, tenant, injected=1)
        assert {"ii_duplicate", "ii_foreign"}.isdisjoint(fake.objects)
        assert (await stored_invoice(resources, tenant.org_id, invoice.id)).stripe_status == "open"
