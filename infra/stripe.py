"""Stripe adapter: the real stripe-python client, a pinned API version, explicit timeouts.

Our ledger is the source of truth; Stripe only collects. Every write carries an idempotency
key derived from our own ids, so a retried job never makes a second customer, item or invoice.
Callers get plain values back, never Stripe objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from infra.errors import AppError, UnavailableError
from infra.settings import Settings

API_VERSION = "2026-10-28.endive"
WEBHOOK_TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 10.0


class StripeRequestError(UnavailableError):
    """Stripe refused or failed a request; the job or request should be retried."""

    code = "payment_provider_error"
    title = "Payment provider error"


class WebhookSignatureError(AppError):
    """A webhook whose Stripe-Signature does not verify (wrong secret, tampered, too old)."""

    status_code = 401
    code = "invalid_signature"
    title = "Invalid signature"


@dataclass(frozen=True)
class StripeInvoice:
    """What we read back of a Stripe invoice."""

    id: str
    status: str
    total: int
    currency: str


@dataclass(frozen=True)
class StripeInvoiceItem:
    """An item on a Stripe invoice, with the line of ours it mirrors (None: not ours)."""

    id: str
    line_id: str | None
    amount: int


@dataclass(frozen=True)
class CheckoutSession:
    """A hosted Checkout page."""

    id: str
    url: str


@dataclass(frozen=True)
class SetupIntent:
    """The outcome of a setup: the customer and the payment method saved."""

    id: str
    customer: str | None
    payment_method: str | None
    status: str


class _HttpxClient(stripe.HTTPXClient):
    """stripe-python's httpx client, sending the form body as `content=` (httpx deprecates a
    string passed as `data=`)."""

    def _get_request_args_kwargs(  # type: ignore[no-untyped-def]
        self, method: str, url: str, headers: Mapping[str, str], post_data
    ):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        body = kwargs.pop("data", None)
        if body:
            kwargs["content"] = body
        return args, kwargs


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return str(found) if found else None


class StripeGateway:
    """The calls Tollgate makes to Stripe (all async, all idempotent)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "",
        timeout: float = TIMEOUT_SECONDS,
        max_network_retries: int = 2,
    ) -> None:
        self._http = _HttpxClient(timeout=timeout)
        bases: dict[str, str] = {}
        if api_base:
            bases = {k: api_base for k in ("api", "files", "connect", "meter_events")}
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses=bases,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway | None:
        """A gateway when STRIPE_API_KEY is set; None means billing runs without collection."""
        key = settings.stripe_api_key.get_secret_value()
        return cls(key, api_base=settings.stripe_api_base) if key else None

    async def close(self) -> None:
        """Release the HTTP connections."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_customer(self, org_id: str, name: str, email: str | None) -> str:
        """A customer for an org (one per org: the key is the org id)."""
        params: dict[str, Any] = {"name": name, "metadata": {"tollgate_org_id": org_id}}
        if email:
            params["email"] = email
        try:
            customer = await self._client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"tg-customer-{org_id}"},
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to create a customer: {exc}") from exc
        return str(customer.id)

    async def set_default_payment_method(self, customer: str, payment_method: str) -> None:
        """Make a payment method the one invoices are charged to."""
        try:
            await self._client.v1.customers.update_async(
                customer, {"invoice_settings": {"default_payment_method": payment_method}}
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused the payment method: {exc}") from exc

    async def checkout_setup_session(
        self, customer: str, org_id: str, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        """A Checkout Session in setup mode: the customer saves a payment method."""
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                {
                    "mode": "setup",
                    "customer": customer,
                    "currency": "usd",
                    "client_reference_id": org_id,
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "metadata": {"tollgate_org_id": org_id},
                    "setup_intent_data": {"metadata": {"tollgate_org_id": org_id}},
                }
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused the checkout session: {exc}") from exc
        return CheckoutSession(id=str(session.id), url=str(session.url))

    async def portal_session(self, customer: str, return_url: str) -> str:
        """A Customer Portal session URL (payment methods, invoice history)."""
        try:
            session = await self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused the portal session: {exc}") from exc
        return str(session.url)

    async def setup_intent(self, setup_intent_id: str) -> SetupIntent:
        """A SetupIntent (Checkout in setup mode names one)."""
        try:
            intent = await self._client.v1.setup_intents.retrieve_async(setup_intent_id)
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to read a setup intent: {exc}") from exc
        return SetupIntent(
            id=str(intent.id),
            customer=_str(intent.customer),
            payment_method=_str(intent.payment_method),
            status=str(intent.status),
        )

    async def create_invoice(
        self, customer: str, *, key: str, description: str, metadata: Mapping[str, str]
    ) -> StripeInvoice:
        """A draft holding only the items we attach to it, charged automatically once we
        finalize it. `auto_advance` is off: Stripe would otherwise finalize and charge a draft
        about an hour after its creation, whether or not its items are all on it."""
        try:
            invoice = await self._client.v1.invoices.create_async(
                {
                    "customer": customer,
                    "currency": "usd",
                    "collection_method": "charge_automatically",
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "exclude",
                    "description": description,
                    "metadata": dict(metadata),
                },
                {"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused the invoice: {exc}") from exc
        return _invoice(invoice)

    async def find_invoice(
        self, customer: str, tollgate_invoice_id: str, *, created_since: int
    ) -> StripeInvoice | None:
        """The customer's invoice made for one of ours (by metadata), created at or after a
        Unix time: recovers an invoice whose id we failed to record."""
        params: dict[str, Any] = {
            "customer": customer,
            "created": {"gte": created_since},
            "limit": 100,
        }
        try:
            while True:
                page = await self._client.v1.invoices.list_async(params)  # type: ignore[arg-type]
                for found in page.data:
                    metadata: dict[str, Any] = found.metadata.to_dict() if found.metadata else {}
                    if metadata.get("tollgate_invoice_id") == tollgate_invoice_id:
                        return _invoice(found)
                if not page.has_more or not page.data:
                    return None
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to list invoices: {exc}") from exc

    async def invoice(self, invoice_id: str) -> StripeInvoice:
        """An invoice's current status and total."""
        try:
            return _invoice(await self._client.v1.invoices.retrieve_async(invoice_id))
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to read an invoice: {exc}") from exc

    async def invoice_items(self, invoice_id: str) -> list[StripeInvoiceItem]:
        """Every item on an invoice, oldest first, with its `tollgate_line_id` metadata."""
        items: list[StripeInvoiceItem] = []
        params: dict[str, Any] = {"invoice": invoice_id, "limit": 100}
        try:
            while True:
                page = await self._client.v1.invoice_items.list_async(params)  # type: ignore[arg-type]
                for item in page.data:
                    metadata: dict[str, Any] = item.metadata.to_dict() if item.metadata else {}
                    line_id = metadata.get("tollgate_line_id")
                    items.append(
                        StripeInvoiceItem(
                            id=str(item.id),
                            line_id=str(line_id) if line_id else None,
                            amount=int(item.amount),
                        )
                    )
                if not page.has_more or not page.data:
                    return items
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to list invoice items: {exc}") from exc

    async def set_invoice_item_amount(self, item_id: str, amount_cents: int) -> None:
        """Correct the amount of an item on a draft invoice."""
        try:
            await self._client.v1.invoice_items.update_async(
                item_id,
                {"amount": amount_cents},
                {"idempotency_key": f"tg-item-{item_id}-amount-{amount_cents}"},
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to update an invoice item: {exc}") from exc

    async def delete_invoice_item(self, item_id: str) -> None:
        """Remove an item from a draft invoice (a duplicate, or not one of our lines)."""
        try:
            await self._client.v1.invoice_items.delete_async(item_id)
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return  # deleted already (a retried job)
            raise StripeRequestError(f"Stripe refused to delete an invoice item: {exc}") from exc
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to delete an invoice item: {exc}") from exc

    async def add_invoice_item(
        self,
        customer: str,
        invoice_id: str,
        *,
        key: str,
        amount_cents: int,
        description: str,
        period: tuple[int, int],
        metadata: Mapping[str, str],
    ) -> None:
        """One invoice item on a draft invoice, mirroring one of our lines."""
        try:
            await self._client.v1.invoice_items.create_async(
                {
                    "customer": customer,
                    "invoice": invoice_id,
                    "amount": amount_cents,
                    "currency": "usd",
                    "description": description,
                    "period": {"start": period[0], "end": period[1]},
                    "metadata": dict(metadata),
                },
                {"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused an invoice item: {exc}") from exc

    async def finalize_invoice(self, invoice_id: str) -> StripeInvoice:
        """Finalize a draft; with auto-advance Stripe then charges the default payment method."""
        try:
            invoice = await self._client.v1.invoices.finalize_invoice_async(
                invoice_id, {"auto_advance": True}, {"idempotency_key": f"tg-finalize-{invoice_id}"}
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to finalize an invoice: {exc}") from exc
        return _invoice(invoice)

    async def pay_out_of_band(self, invoice_id: str) -> StripeInvoice:
        """Record an invoice as paid outside Stripe (the operator marked ours paid)."""
        try:
            invoice = await self._client.v1.invoices.pay_async(
                invoice_id, {"paid_out_of_band": True}, {"idempotency_key": f"tg-oob-{invoice_id}"}
            )
        except stripe.StripeError as exc:
            raise StripeRequestError(f"Stripe refused to mark an invoice paid: {exc}") from exc
        return _invoice(invoice)


def _invoice(invoice: Any) -> StripeInvoice:
    return StripeInvoice(
        id=str(invoice.id),
        status=str(invoice.status),
        total=int(invoice.total),
        currency=str(invoice.currency),
    )


def verify_webhook(
    payload: bytes, signature: str, secret: str, tolerance: int = WEBHOOK_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """The event of a webhook body whose Stripe-Signature verifies (HMAC-SHA256, tolerance)."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureError(f"Stripe-Signature does not verify: {exc}") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise WebhookSignatureError("The signed body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or "id" not in event:
        raise WebhookSignatureError("The signed body is not a Stripe event")
    return event
