"""Stripe as the payment rail: customers, Checkout and Portal sessions, the invoice mirror, and
webhook events.

The mirror copies our invoice line for line (one invoice item per line, same cents) onto a
Stripe invoice that we finalize, after which Stripe charges it automatically. Every step is
idempotent and resumable, also past Stripe's 24 h idempotency window:
- the Stripe draft is created with `auto_advance=false` (Stripe never finalizes it on its own)
  and its id is committed in a transaction of its own before any item is added
  (`record_remote_invoice`); a retry reuses it, and an id we failed to record is found again
  by our metadata before a new draft is made;
- the draft's items are reconciled with our lines (by `tollgate_line_id` metadata): a missing
  line is added, a wrong amount corrected, a duplicate or foreign item removed;
- the draft is finalized only once its items equal our lines, and only while Stripe still says
  `draft`; a finalized total that differs from ours raises.

Webhook events are stored once by id (replays are dropped at the door) and handled by a job.
Handlers are monotonic: `paid` is final, a failure reported for a paid invoice is ignored, and
an older payment-method event never overwrites a newer one, so out-of-order delivery converges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import dunning
from billing.errors import BillingNotConfiguredError
from billing.invoices import Notify, mark_paid
from billing.models import Invoice, InvoiceLine, StripeEvent
from billing.money import to_cents
from billing.repository import (
    BillingAccountRepository,
    GlobalBillingRepository,
    GlobalStripeEventRepository,
    InvoiceRepository,
)
from infra import jobs
from infra.logging import get_logger
from infra.stripe import CheckoutSession, StripeGateway
from tenancy import audit
from tenancy.authz import system_context
from tenancy.context import Actor, TenantContext
from tenancy.orgs import get_org

log = get_logger(__name__)

HANDLE_ACTOR = "billing.handle_stripe_event"
PAYABLE = ("open", "uncollectible", "paid")
UNHANDLED_AFTER = timedelta(minutes=5)
MAX_REQUEUE = 500
STRIPE_ACTOR = Actor("system", "stripe")


class InvoiceMirrorMismatch(RuntimeError):
    """Stripe's invoice differs from ours: never finalize it, never let it pass silently."""


# A Stripe invoice made for one of ours was created after ours was issued; margin for clock skew.
FIND_SKEW = timedelta(hours=1)


def _gateway(gateway: StripeGateway | None) -> StripeGateway:
    if gateway is None:
        raise BillingNotConfiguredError("Payments are not collected on this deployment")
    return gateway


async def ensure_customer(
    session: AsyncSession, context: TenantContext, gateway: StripeGateway
) -> str:
    """The org's Stripe customer, created on first use (idempotent on the org id)."""
    account = await BillingAccountRepository(session, context).get_or_create()
    if account.stripe_customer_id:
        return account.stripe_customer_id
    org = await get_org(session, context)
    account.stripe_customer_id = await gateway.create_customer(org.id, org.name, None)
    account.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session, context, "billing.customer_created", "org", org.id,
        stripe_customer_id=account.stripe_customer_id,
    )  # fmt: skip
    return account.stripe_customer_id


async def checkout(
    session: AsyncSession,
    context: TenantContext,
    gateway: StripeGateway | None,
    *,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """A Checkout Session (setup mode) where the org saves a payment method."""
    stripe = _gateway(gateway)
    customer = await ensure_customer(session, context, stripe)
    return await stripe.checkout_setup_session(customer, context.org_id, success_url, cancel_url)


async def portal(
    session: AsyncSession,
    context: TenantContext,
    gateway: StripeGateway | None,
    *,
    return_url: str,
) -> str:
    """A Customer Portal session URL."""
    stripe = _gateway(gateway)
    customer = await ensure_customer(session, context, stripe)
    return await stripe.portal_session(customer, return_url)


def _mirrored(invoice: Invoice) -> bool:
    """Whether Stripe should collect this invoice (paid and void ones are never created there)."""
    return invoice.total > 0 and invoice.status not in ("void", "paid")


async def record_remote_invoice(
    session: AsyncSession, context: TenantContext, gateway: StripeGateway, invoice_id: str
) -> bool:
    """Give one of our invoices its Stripe draft (found again, or created); True if its id was
    recorded now. The caller commits it before `sync_invoice` adds anything to the draft."""
    invoice = await InvoiceRepository(session, context).get(invoice_id, for_update=True)
    if invoice is None or not _mirrored(invoice) or invoice.stripe_invoice_id is not None:
        return False
    customer = await ensure_customer(session, context, gateway)
    since = int((invoice.issued_at - FIND_SKEW).timestamp())
    remote = await gateway.find_invoice(customer, invoice.id, created_since=since)
    if remote is None:
        remote = await gateway.create_invoice(
            customer,
            key=f"tg-invoice-{invoice.id}",
            description=_description(invoice),
            metadata={"tollgate_invoice_id": invoice.id, "tollgate_org_id": context.org_id},
        )
    invoice.stripe_invoice_id, invoice.stripe_status = remote.id, remote.status
    await session.flush()
    log.info("stripe.invoice_recorded", invoice_id=invoice.id, stripe_invoice_id=remote.id)
    return True


async def sync_invoice(
    session: AsyncSession, context: TenantContext, gateway: StripeGateway, invoice_id: str
) -> str | None:
    """Bring Stripe in line with one of our invoices; returns Stripe's status (None: skipped).

    The Stripe draft must be recorded first (`record_remote_invoice`, committed)."""
    repo = InvoiceRepository(session, context)
    invoice = await repo.get(invoice_id, for_update=True)
    if invoice is None or invoice.total <= 0 or invoice.status == "void":
        return None
    if invoice.status == "paid":
        if invoice.stripe_invoice_id and invoice.stripe_status == "open":
            invoice.stripe_status = (
                await gateway.pay_out_of_band(invoice.stripe_invoice_id)
            ).status
            await session.flush()
        return invoice.stripe_status
    stripe_id = invoice.stripe_invoice_id
    if stripe_id is None:
        raise RuntimeError(f"invoice {invoice.id} has no recorded Stripe draft to fill")
    current = await gateway.invoice(stripe_id)
    if current.status == "draft":
        customer = await ensure_customer(session, context, gateway)
        lines = await repo.lines(invoice.id)
        await _reconcile_items(gateway, customer, invoice, lines)
        current = await gateway.finalize_invoice(stripe_id)
        log.info("stripe.invoice_finalized", invoice_id=invoice.id, stripe_invoice_id=stripe_id)
    if current.total != to_cents(invoice.total):
        raise InvoiceMirrorMismatch(
            f"Stripe invoice {stripe_id} totals {current.total} cents, ours {invoice.total}"
        )
    invoice.stripe_status = current.status
    await session.flush()
    return current.status


async def _reconcile_items(
    gateway: StripeGateway, customer: str, invoice: Invoice, lines: Sequence[InvoiceLine]
) -> None:
    """Make the draft's items equal our lines (one item per line, same cents), then check it."""
    stripe_id = invoice.stripe_invoice_id
    assert stripe_id is not None  # noqa: S101 (checked by the caller)
    wanted = {line.id: to_cents(line.amount) for line in lines}
    present: set[str] = set()
    for item in await gateway.invoice_items(stripe_id):
        line_id = item.line_id
        if line_id is None or line_id not in wanted or line_id in present:
            await gateway.delete_invoice_item(item.id)  # not one of our lines, or a duplicate
            continue
        present.add(line_id)
        if item.amount != wanted[line_id]:
            await gateway.set_invoice_item_amount(item.id, wanted[line_id])
    period = (int(invoice.period_start.timestamp()), int(invoice.period_end.timestamp()))
    for line in lines:
        if line.id in present:
            continue
        await gateway.add_invoice_item(
            customer,
            stripe_id,
            key=f"tg-line-{line.id}",
            amount_cents=wanted[line.id],
            description=line.description,
            period=period,
            metadata={
                "tollgate_line_id": line.id,
                "tollgate_invoice_id": invoice.id,
                "kind": line.kind,
                "category": line.category or "",
                "quantity": f"{line.quantity.normalize():f}",
                "unit_price": f"{line.unit_price.normalize():f}",
                # sibling lines say which product and metric they bill (empty for the others)
                "product": line.details.get("product", ""),
                "metric": line.details.get("metric", ""),
            },
        )
    mirror = sorted((i.line_id or "", i.amount) for i in await gateway.invoice_items(stripe_id))
    if mirror != sorted(wanted.items()):
        raise InvoiceMirrorMismatch(
            f"Stripe draft {stripe_id} does not match invoice {invoice.id} yet: not finalized"
        )


def _description(invoice: Invoice) -> str:
    start, end = invoice.period_start.date().isoformat(), invoice.period_end.date().isoformat()
    return f"Tollgate usage {start} to {end} (invoice {invoice.id})"


async def receive_event(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Store a verified event once and queue its handling after commit; True if it is new.

    A replay of an event that is stored but not yet handled queues the job again: the job of
    the first delivery may have been lost after our commit (the handler runs an event once, so
    a second job is harmless). A replay of a handled event changes nothing.
    """
    stored = StripeEvent(
        id=str(event["id"]),
        type=str(event.get("type", "")),
        created=datetime.fromtimestamp(int(event.get("created", 0)), UTC),
        payload=event,
    )
    events = GlobalStripeEventRepository(session)
    new = await events.add_if_new(stored)
    if new:
        jobs.enqueue(session, HANDLE_ACTOR, stored.id)
        return True
    existing = await events.get(stored.id)
    if existing is not None and existing.processed_at is None:
        jobs.enqueue(session, HANDLE_ACTOR, stored.id)
    return False


async def requeue_unhandled(
    session: AsyncSession, *, now: datetime, older_than: timedelta = UNHANDLED_AFTER
) -> int:
    """Queue the handling of events stored a while ago and never handled (their job was lost
    between our commit and the queue, and Stripe will not resend an event we answered 202)."""
    found = await GlobalStripeEventRepository(session).unhandled(now - older_than, MAX_REQUEUE)
    for event_id in found:
        jobs.enqueue(session, HANDLE_ACTOR, event_id)
    return len(found)


async def _org_of(session: AsyncSession, obj: dict[str, Any]) -> str | None:
    """The org an event's object belongs to: by our customer mapping, else our metadata."""
    customer = obj.get("customer")
    globals_ = GlobalBillingRepository(session)
    by_customer = (
        await globals_.org_by_stripe_customer(customer) if isinstance(customer, str) else None
    )
    if by_customer:
        return by_customer
    metadata = obj.get("metadata") or {}
    org_id = metadata.get("tollgate_org_id") or obj.get("client_reference_id")
    if isinstance(org_id, str) and org_id and customer is None:
        return org_id
    return None


async def handle_event(
    session: AsyncSession,
    event_id: str,
    *,
    gateway: StripeGateway | None,
    now: datetime | None = None,
    notify: Notify | None = None,
) -> str:
    """Apply one stored event (once); returns what was done."""
    now = now or datetime.now(UTC)
    events = GlobalStripeEventRepository(session)
    event = await events.get(event_id, for_update=True)
    if event is None:
        return "unknown event"
    if event.processed_at is not None:
        return event.result or "already processed"
    obj = (event.payload.get("data") or {}).get("object") or {}
    org_id = await _org_of(session, obj)
    if org_id is None:
        result = "ignored: no org"
    else:
        context = await system_context(session, org_id, STRIPE_ACTOR)
        result = await _dispatch(session, context, event, obj, gateway, now, notify)
    event.processed_at = now
    event.result = result[:200]
    await session.flush()
    log.info("stripe.event_handled", event_id=event.id, type=event.type, result=result)
    return result


async def _dispatch(
    session: AsyncSession,
    context: TenantContext,
    event: StripeEvent,
    obj: dict[str, Any],
    gateway: StripeGateway | None,
    now: datetime,
    notify: Notify | None,
) -> str:
    kind = event.type
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        invoice = await _our_invoice(session, context, obj)
        if invoice is None:
            return "ignored: not our invoice"
        invoice.stripe_status = "paid"
        was = invoice.status
        if was not in PAYABLE:
            # a voided invoice paid in Stripe needs a person (a refund); retrying cannot help
            log.warning("stripe.paid_invoice_not_payable", invoice_id=invoice.id, status=was)
            return f"ignored: invoice {was}"
        await mark_paid(session, context, invoice.id, now=now, notify=notify)
        return "paid" if was != "paid" else "already paid"
    if kind == "invoice.payment_failed":
        invoice = await _our_invoice(session, context, obj)
        if invoice is None:
            return "ignored: not our invoice"
        changed = await dunning.payment_failed(session, context, invoice, now=now, notify=notify)
        return "past_due" if changed else f"ignored: invoice {invoice.status}"
    if kind == "checkout.session.completed":
        if obj.get("mode") != "setup" or not isinstance(obj.get("setup_intent"), str):
            return "ignored: not a setup session"
        if gateway is None:
            return "ignored: stripe not configured"
        intent = await gateway.setup_intent(obj["setup_intent"])
        if intent.status != "succeeded" or not intent.payment_method:
            return f"ignored: setup {intent.status}"
        return await _payment_method(session, context, intent.payment_method, event, gateway)
    if kind == "setup_intent.succeeded":
        payment_method = obj.get("payment_method")
        if not isinstance(payment_method, str):
            return "ignored: no payment method"
        return await _payment_method(session, context, payment_method, event, gateway)
    if kind == "payment_method.attached":
        return await _payment_method(session, context, str(obj.get("id")), event, gateway)
    return "ignored: unhandled type"


async def _our_invoice(
    session: AsyncSession, context: TenantContext, obj: dict[str, Any]
) -> Invoice | None:
    repo = InvoiceRepository(session, context)
    ours = (obj.get("metadata") or {}).get("tollgate_invoice_id")
    invoice = await repo.get(ours, for_update=True) if isinstance(ours, str) else None
    if invoice is None and isinstance(obj.get("id"), str):
        invoice = await repo.by_stripe_id(obj["id"])
    if invoice is not None and invoice.stripe_invoice_id is None and isinstance(obj.get("id"), str):
        invoice.stripe_invoice_id = obj["id"]
    return invoice


async def _payment_method(
    session: AsyncSession,
    context: TenantContext,
    payment_method: str,
    event: StripeEvent,
    gateway: StripeGateway | None,
) -> str:
    """Record the org's payment method, unless a newer event already recorded another."""
    account = await BillingAccountRepository(session, context).get_or_create()
    if account.payment_method_at is not None and account.payment_method_at > event.created:
        return "ignored: older than the payment method on file"
    if account.payment_method_id == payment_method:
        return "payment method already on file"
    account.payment_method_id = payment_method
    account.payment_method_at = event.created
    account.updated_at = datetime.now(UTC)
    await session.flush()
    if gateway is not None and account.stripe_customer_id:
        await gateway.set_default_payment_method(account.stripe_customer_id, payment_method)
    await audit.record(
        session, context, "billing.payment_method_added", "org", context.org_id,
        payment_method=payment_method,
    )  # fmt: skip
    return "payment method recorded"
