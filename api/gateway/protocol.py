"""The refusal protocol of §4: 429 problems, Retry-After, X-Tollgate-Rate-Limits, RateLimit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request
from prometheus_client import Counter

from billing.quotas.base import Category, Decision, Refusal
from infra.errors import AppError

INGESTED = Counter(
    "tollgate_ingest_units", "Units by category and outcome", ["category", "outcome"]
)
REFUSALS = Counter("tollgate_quota_refusals", "Requests refused by a limit", ["category", "reason"])


class RateLimitedError(AppError):
    """A request refused whole by a rate limit."""

    status_code = 429
    code = "rate_limited"
    title = "Rate limit reached"


class QuotaExceededError(RateLimitedError):
    """A request refused whole by the monthly quota of the plan (or an override)."""

    code = "quota_exceeded"
    title = "Monthly quota reached"


class SpendCapError(RateLimitedError):
    """A request refused whole because its overage would pass the org's spend cap."""

    code = "spend_cap"
    title = "Spend cap reached"


_ERRORS: dict[str, type[RateLimitedError]] = {
    "rate_limited": RateLimitedError,
    "quota_exceeded": QuotaExceededError,
    "spend_cap": SpendCapError,
}


def key_from(request: Request[Any, Any, Any]) -> str | None:
    """The API key of a data-plane request: Bearer or X-API-Key."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    api_key = request.headers.get("x-api-key")
    return api_key.strip() if api_key else None


def rate_limits_header(refusals: Iterable[Refusal]) -> str:
    """`<retry_after>:<categories ; separated>:<scope>:<reason>`, limits separated by `, `."""
    grouped: dict[tuple[int, str, str], list[str]] = {}
    for r in refusals:
        grouped.setdefault((r.retry_after, r.scope.value, r.reason.value), []).append(
            r.category.value
        )
    return ", ".join(
        f"{retry}:{';'.join(sorted(categories))}:{scope}:{reason}"
        for (retry, scope, reason), categories in grouped.items()
    )


def rate_limit_headers(decision: Decision, categories: Iterable[Category]) -> dict[str, str]:
    """IETF `RateLimit-Policy` / `RateLimit` for the tightest limit of each category sent."""
    policies, states = [], []
    for category in categories:
        state = decision.tightest(category)
        if state is None:
            continue
        name = f'"{category.value}"'
        policies.append(f"{name};q={state.limit}")
        states.append(f"{name};r={state.remaining};t={state.reset}")
    headers = {}
    if policies:
        headers["RateLimit-Policy"] = ", ".join(policies)
        headers["RateLimit"] = ", ".join(states)
    if decision.blocked:
        headers["X-Tollgate-Rate-Limits"] = rate_limits_header(decision.blocked)
    return headers


def refused(decision: Decision, categories: Iterable[Category]) -> RateLimitedError:
    """The 429 problem for a refused decision (the longest wait is the one reported)."""
    first = max(decision.refusals, key=lambda r: r.retry_after)
    for refusal in decision.refusals:
        REFUSALS.labels(refusal.category.value, refusal.reason.value).inc()
    headers = rate_limit_headers(decision, categories)
    headers["Retry-After"] = str(first.retry_after)
    headers["X-Tollgate-Rate-Limits"] = rate_limits_header(decision.refusals)
    what = {
        "rate_limited": "rate limit",
        "quota_exceeded": "monthly quota",
        "spend_cap": "spend cap",
    }[first.reason.value]
    return _ERRORS[first.reason.value](
        f"The {first.scope.value} {what} for {first.category.value} is reached; "
        f"retry in {first.retry_after} s",
        headers=headers,
        category=first.category.value,
        scope=first.scope.value,
        reason=first.reason.value,
        retry_after=first.retry_after,
    )
