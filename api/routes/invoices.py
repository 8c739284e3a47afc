"""Invoices (upcoming, past), payment-method checkout, the billing portal, Stripe webhooks, and
the operator's mark-paid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.auth import Ctx, org_permission
from api.deps import AppResources, DbSession
from api.routes.admin import provide_operator_context
from billing import invoices, stripe_sync, subscriptions
from billing.models import Invoice, InvoiceLine
from billing.money import money, plain
from billing.rating import Line, LineKind
from billing.repository import PlanRepository
from billing.schemas import CheckoutIn, InvoiceLineOut, InvoiceOut, PortalIn, UrlOut
from infra.errors import AppError, NotFoundError
from infra.stripe import verify_webhook
from tenancy.roles import Permission
from tenancy.schemas import Page

Limit = Annotated[int, QueryParameter(ge=1, le=100)]


class MissingSignatureError(AppError):
    """A webhook without a Stripe-Signature header."""

    status_code = 400
    code = "missing_signature"
    title = "Missing signature"


def _line_out(line: Line) -> InvoiceLineOut:
    return InvoiceLineOut(
        kind=line.kind.value,
        category=line.category.value if line.category else None,
        description=line.description,
        quantity=plain(line.quantity),
        unit_price=plain(line.unit_price),
        amount=money(line.amount),
        details=dict(line.details),
        product=line.details.get("product") if line.kind is LineKind.SIBLING else None,
        metric=line.details.get("metric") if line.kind is LineKind.SIBLING else None,
    )


def rated_out(rated: invoices.RatedPeriod) -> InvoiceOut:
    """A period rated but not closed, as a draft invoice."""
    rating = rated.rating
    return InvoiceOut(
        id=None,
        period_start=rating.period.start,
        period_end=rating.period.end,
        status="draft",
        currency="usd",
        plan=rated.plan.code.value,
        lines=[_line_out(line) for line in rating.lines],
        subtotal=money(rating.subtotal),
        total=money(rating.total),
    )


async def _stored_out(
    db_session: DbSession, invoice: Invoice, lines: Sequence[InvoiceLine]
) -> InvoiceOut:
    plan = await PlanRepository(db_session).by_id(invoice.plan_id)
    return InvoiceOut(
        id=invoice.id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        status=invoice.status,
        currency=invoice.currency,
        plan=plan.code.value,
        lines=[_line_out(invoices.line_of(row)) for row in lines],
        subtotal=money(invoice.subtotal),
        total=money(invoice.total),
        issued_at=invoice.issued_at,
        paid_at=invoice.paid_at,
    )


class InvoiceController(Controller):
    """An org's invoices: the upcoming one and those issued."""

    path = "/v1/orgs/{org:str}/invoices"
    tags = ["billing"]
    dependencies = {"ctx": org_permission(Permission.BILLING_READ)}

    @get("/upcoming", operation_id="get_upcoming_invoice")
    async def upcoming(
        self, db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> InvoiceOut:
        """The invoice the current period would close with, rated from usage so far."""
        return rated_out(await invoices.upcoming(db_session, ctx, resources.quotas))

    @get("/", operation_id="list_invoices")
    async def list_invoices(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 20,
    ) -> Page[InvoiceOut]:
        """Issued invoices, newest first."""
        page, next_cursor = await invoices.list_invoices(db_session, ctx, cursor, limit)
        items = [await _stored_out(db_session, invoice, lines) for invoice, lines in page]
        return Page(items=items, next_cursor=next_cursor)

    @get("/{invoice_id:str}", operation_id="get_invoice")
    async def get_invoice(
        self, db_session: DbSession, ctx: Ctx, invoice_id: FromPath[str]
    ) -> InvoiceOut:
        """One issued invoice."""
        invoice, lines = await invoices.get_invoice(db_session, ctx, invoice_id)
        return await _stored_out(db_session, invoice, lines)


class BillingController(Controller):
    """Payment methods (Stripe Checkout), the Customer Portal, and scheduled plan changes."""

    path = "/v1/orgs/{org:str}"
    tags = ["billing"]
    dependencies = {"ctx": org_permission(Permission.BILLING_WRITE)}

    @post("/billing/checkout", operation_id="create_checkout_session", status_code=200)
    async def checkout(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        data: JSONBody[CheckoutIn | None] = None,
    ) -> UrlOut:
        """A Stripe Checkout page (setup mode) to add a payment method; 409 without Stripe."""
        base = resources.settings.base_url.rstrip("/")
        body = data or CheckoutIn()
        session = await stripe_sync.checkout(
            db_session,
            ctx,
            resources.stripe,
            success_url=body.success_url or f"{base}/billing?checkout=success",
            cancel_url=body.cancel_url or f"{base}/billing?checkout=canceled",
        )
        return UrlOut(url=session.url, id=session.id)

    @post("/billing/portal", operation_id="create_portal_session", status_code=200)
    async def portal(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        data: JSONBody[PortalIn | None] = None,
    ) -> UrlOut:
        """A Stripe Customer Portal session (payment methods, invoice history)."""
        base = resources.settings.base_url.rstrip("/")
        return_url = (data.return_url if data else None) or f"{base}/billing"
        url = await stripe_sync.portal(db_session, ctx, resources.stripe, return_url=return_url)
        return UrlOut(url=url)

    @delete("/subscription/scheduled-change", operation_id="cancel_scheduled_plan_change")
    async def cancel_scheduled_change(
        self, db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> None:
        """Keep the current plan: drop a downgrade scheduled for the period end."""
        await subscriptions.cancel_scheduled_change(db_session, ctx)


class StripeWebhookController(Controller):
    """Stripe's events: verified, stored once, handled by a job."""

    path = "/v1/webhooks/stripe"
    tags = ["billing"]

    @post("/", operation_id="stripe_webhook", status_code=202)
    async def receive(
        self, request: Request[Any, Any, Any], db_session: DbSession, resources: AppResources
    ) -> dict[str, Any]:
        """404 while no signing secret is set; 400 without a signature; 401 if it does not
        verify (HMAC-SHA256, 300 s tolerance); 202 once the event is stored."""
        secret = resources.settings.stripe_webhook_secret.get_secret_value()
        if not secret:
            raise NotFoundError("Stripe webhooks are not configured")
        signature = request.headers.get("stripe-signature")
        if not signature:
            raise MissingSignatureError("Send the Stripe-Signature header")
        event = verify_webhook(await request.body(), signature, secret)
        new = await stripe_sync.receive_event(db_session, event)
        return {"received": True, "id": event["id"], "duplicate": not new}


class AdminInvoiceController(Controller):
    """The operator settles invoices paid outside Stripe (or when Stripe is not configured)."""

    path = "/v1/admin/orgs/{org:str}/invoices"
    tags = ["admin"]
    dependencies = {"ctx": Provide(provide_operator_context)}

    @post("/{invoice_id:str}/mark-paid", operation_id="admin_mark_invoice_paid", status_code=200)
    async def mark_paid(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        invoice_id: FromPath[str],
    ) -> InvoiceOut:
        """Mark an open invoice paid (audited); lifts past-due and suspension."""
        await invoices.mark_paid(
            db_session,
            ctx,
            invoice_id,
            collect=resources.stripe is not None,
            notify=resources.admission.publish_invalidation,
        )
        invoice, lines = await invoices.get_invoice(db_session, ctx, invoice_id)
        return await _stored_out(db_session, invoice, lines)
