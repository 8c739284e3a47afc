"""Billing's domain errors."""

from __future__ import annotations

from infra.errors import AppError, UnavailableError, ValidationError


class UnknownPlanError(ValidationError):
    """No such plan."""

    code = "unknown_plan"
    title = "Unknown plan"


class QuotaUnavailableError(UnavailableError):
    """The quota store (Redis) did not answer: nothing was admitted, the client should retry."""

    code = "quota_unavailable"
    title = "Quota store unavailable"


class OrgSuspendedError(AppError):
    """Ingestion refused: the org is suspended (unpaid invoice past its grace period)."""

    status_code = 402
    code = "org_suspended"
    title = "Organization suspended"


class PaymentMethodRequiredError(AppError):
    """A paid plan needs a payment method on file first (when Stripe collects payments)."""

    status_code = 402
    code = "payment_method_required"
    title = "Payment method required"


class BillingNotConfiguredError(AppError):
    """Payment collection (Stripe) is not configured on this deployment."""

    status_code = 409
    code = "billing_not_configured"
    title = "Payment collection not configured"


class InvoiceStateError(AppError):
    """The invoice's status does not allow this (e.g. paying a void invoice)."""

    status_code = 409
    code = "invoice_state"
    title = "Invoice state conflict"
