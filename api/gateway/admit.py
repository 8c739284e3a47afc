"""What every ingest endpoint does around its store write: admit or refuse, refund on failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from api.gateway.protocol import INGESTED, refused
from api.resources import Resources
from billing.admission import Admitted
from billing.quotas.base import Category, Outcome
from infra.errors import AppError, UnavailableError
from infra.logging import get_logger
from telemetry.decode.errors import PayloadError
from tenancy.repository import KeyRecord

STORE_RETRY_AFTER = "2"
log = get_logger(__name__)


class PayloadProblem(AppError):
    """A body the gateway cannot accept (400 malformed, 413 too large, 415 wrong type)."""

    code = "invalid_payload"
    title = "Invalid payload"

    def __init__(self, error: PayloadError) -> None:
        super().__init__(error.detail)
        self.status_code = error.status_code  # type: ignore[misc]


class StoreProblem(UnavailableError):
    """The store failed; nothing was counted as accepted."""

    code = "store_unavailable"
    title = "Store unavailable"


async def record_invalid(
    resources: Resources,
    key: KeyRecord,
    project_id: str,
    category: Category,
    units: int,
    now: datetime,
) -> None:
    """Count units refused as malformed (visible to the tenant, never billed)."""
    if units > 0:
        await resources.admission.record_invalid(
            key.org_id, project_id, key.id, category, units, now
        )
        INGESTED.labels(category.value, Outcome.INVALID.value).inc(units)


async def admit_or_refuse(
    resources: Resources,
    key: KeyRecord,
    project_id: str,
    units: Mapping[Category, int],
    now: datetime,
) -> Admitted:
    """Admit the whole request, or raise its 429 problem (402 when the org is suspended)."""
    admitted = await resources.admission.admit(
        org_id=key.org_id,
        project_id=project_id,
        key_id=key.id,
        key_limits=key.rate_limits,
        units=units,
        at=now,
    )
    decision = admitted.decision
    if not decision.accepted:
        for refusal in decision.refusals:
            INGESTED.labels(refusal.category.value, refusal.reason.value).inc(
                units.get(refusal.category, 0)
            )
        raise refused(decision, units)
    return admitted


def count_accepted(units: Mapping[Category, int]) -> None:
    """Count admitted units that the store has acknowledged."""
    for category, quantity in units.items():
        INGESTED.labels(category.value, Outcome.ACCEPTED.value).inc(quantity)


async def refund_duplicates(
    resources: Resources, admitted: Admitted, stored: Mapping[Category, int]
) -> dict[Category, int]:
    """Give back the admitted units the store already held (a retried body); what was stored.

    They were billed when first stored, so they leave `accepted` without another outcome.
    """
    admission = admitted.admission
    duplicates = {
        category: quantity - stored.get(category, 0)
        for category, quantity in admission.units.items()
        if quantity > stored.get(category, 0)
    }
    if duplicates:
        await resources.admission.refund(replace(admission, units=duplicates), refile=None)
    return {category: stored.get(category, 0) for category in admission.units}


async def store_failed(
    resources: Resources, admitted: Admitted, what: str, error: Exception
) -> StoreProblem:
    """Refund an admission whose store write failed; the 503 to raise."""
    await resources.admission.refund(admitted.admission)
    for category, quantity in admitted.admission.units.items():
        INGESTED.labels(category.value, Outcome.STORE_UNAVAILABLE.value).inc(quantity)
    log.warning("ingest.store_failed", store=what, error=type(error).__name__)
    return StoreProblem(
        f"The {what} store is unavailable; retry shortly",
        headers={"Retry-After": STORE_RETRY_AFTER},
    )
