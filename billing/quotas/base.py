"""Quota value objects and the backend interface: rate limits, period limits, admissions, outcomes.

Units are integers (data points, bytes, root spans, spans). The Redis backend does its arithmetic
in Lua numbers, which are IEEE doubles: every count and limit is exact up to 2**53 (9.0e15, i.e.
9 PB of logs per org and period), and the value objects refuse anything larger.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Protocol

MAX_UNITS = 2**53
"""Largest count, limit or burst the backend represents exactly (Lua numbers are doubles)."""

_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
"""Ids go into Redis key names and `|`-separated fields: no `{}` (hash tags), `:` or `|`."""


class Category(enum.StrEnum):
    """A billed data category (§4 units)."""

    METRICS = "metrics"
    LOGS = "logs"
    TRACES = "traces"
    SPANS = "spans"


class Outcome(enum.StrEnum):
    """What happened to a request's units; only `accepted` is billed."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    SPEND_CAP = "spend_cap"
    INVALID = "invalid"
    STORE_UNAVAILABLE = "store_unavailable"


class Reason(enum.StrEnum):
    """Why a limit refused a request (the refusal subset of `Outcome`)."""

    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    SPEND_CAP = "spend_cap"

    @property
    def outcome(self) -> Outcome:
        """The outcome the refused units are recorded under."""
        return Outcome(self.value)


class Scope(enum.StrEnum):
    """What a limit counts over: one API key, one project, or the whole organization."""

    KEY = "key"
    PROJECT = "project"
    ORG = "org"


def check_id(value: str, what: str) -> str:
    """Return `value` if it is safe inside a Redis key name, else raise ValueError."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise ValueError(f"{what} must match {_ID.pattern}, got {value!r}")
    return value


def check_units(value: int, what: str, *, minimum: int = 1) -> int:
    """Return `value` if it is an int in [minimum, MAX_UNITS], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, got {value!r}")
    if not minimum <= value <= MAX_UNITS:
        raise ValueError(f"{what} must be in [{minimum}, 2**53], got {value}")
    return value


def as_utc(value: datetime, what: str) -> datetime:
    """Return an aware datetime converted to UTC; a naive one is a bug and raises ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def hour_start(at: datetime) -> datetime:
    """The start of the UTC hour that contains `at`."""
    return as_utc(at, "at").replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: refills `rate` units per second up to `burst` units."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float):
            raise ValueError(f"rate must be a number, got {self.rate!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a finite number > 0, got {self.rate!r}")
        check_units(self.burst, "burst")

    @classmethod
    def per_second(cls, rate: float, *, burst_seconds: float = 10.0) -> RateLimit:
        """A bucket whose burst is `burst_seconds` worth of `rate` (§4: 10 s by default)."""
        return cls(rate=rate, burst=max(1, math.ceil(rate * burst_seconds)))

    def allows_at_most(self, other: RateLimit) -> bool:
        """True if this bucket is never more generous than `other`."""
        return self.rate <= other.rate and self.burst <= other.burst


@dataclass(frozen=True, slots=True)
class PeriodLimit:
    """Units allowed per billing period for the whole org; `None` means unlimited (overage)."""

    limit: int | None
    reason: Reason = Reason.QUOTA_EXCEEDED

    def __post_init__(self) -> None:
        if self.limit is not None:
            check_units(self.limit, "period limit", minimum=0)
        object.__setattr__(self, "reason", Reason(self.reason))
        if self.reason is Reason.RATE_LIMITED:
            raise ValueError("a period limit refuses as quota_exceeded or spend_cap")

    @classmethod
    def unlimited(cls) -> PeriodLimit:
        """No cap: usage past the included quota is billed as overage."""
        return cls(limit=None)

    @classmethod
    def hard_cap(cls, limit: int) -> PeriodLimit:
        """The plan's own cap (free plan, spans fair-use cap)."""
        return cls(limit=limit, reason=Reason.QUOTA_EXCEEDED)

    @classmethod
    def spend_cap(cls, limit: int) -> PeriodLimit:
        """A cap derived from the org's monthly spend cap."""
        return cls(limit=limit, reason=Reason.SPEND_CAP)


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryPolicy:
    """Every limit that applies to one category of one request."""

    rate_limit: RateLimit
    key_rate_limit: RateLimit | None = None
    period_limit: PeriodLimit = field(default_factory=PeriodLimit.unlimited)

    def __post_init__(self) -> None:
        if self.key_rate_limit is not None and not self.key_rate_limit.allows_at_most(
            self.rate_limit
        ):
            raise ValueError(
                f"a per-key rate limit may only lower the project's: {self.key_rate_limit} "
                f"is above {self.rate_limit}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """One ingest request's units, to be admitted or refused whole."""

    org_id: str
    project_id: str
    key_id: str
    period_id: str
    """The billing period, e.g. its start as an ISO date; names the org's period counters."""
    period_end: datetime
    """When the period's counters reset: Retry-After of quota refusals, and counter expiry."""
    units: Mapping[Category, int]
    at: datetime

    def __post_init__(self) -> None:
        check_id(self.org_id, "org_id")
        check_id(self.project_id, "project_id")
        check_id(self.key_id, "key_id")
        check_id(self.period_id, "period_id")
        object.__setattr__(self, "period_end", as_utc(self.period_end, "period_end"))
        object.__setattr__(self, "at", as_utc(self.at, "at"))
        if not self.units:
            raise ValueError("an admission needs at least one category")
        units = {Category(c): check_units(n, f"units of {c}") for c, n in self.units.items()}
        object.__setattr__(self, "units", MappingProxyType(units))


@dataclass(frozen=True, slots=True)
class Refusal:
    """A limit that refuses (or would refuse) a category; Retry-After is `retry_after` seconds."""

    category: Category
    scope: Scope
    reason: Reason
    retry_after: int

    def __post_init__(self) -> None:
        if isinstance(self.retry_after, bool) or self.retry_after < 1:
            raise ValueError(f"retry_after must be >= 1 second, got {self.retry_after!r}")


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after a decision, for `RateLimit` headers: units `remaining` of `limit`.

    `reset` is the number of seconds until the limit is fully available again (bucket full,
    or period over).
    """

    category: Category
    scope: Scope
    limit: int
    remaining: int
    reset: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on an admission, with the state of every limit evaluated."""

    accepted: bool
    refusals: tuple[Refusal, ...] = ()
    """Why the request was refused; empty when it was accepted."""
    limits: tuple[LimitState, ...] = ()
    """Every limit of every category in the policies, after this decision."""
    blocked: tuple[Refusal, ...] = ()
    """Limits exhausted after this decision: even one more unit of the category is refused."""

    def __post_init__(self) -> None:
        if self.accepted == bool(self.refusals):
            raise ValueError("a decision is accepted if and only if it has no refusals")

    @property
    def retry_after(self) -> int | None:
        """Seconds until the refused request may pass (the longest refusal), None if accepted."""
        return max((r.retry_after for r in self.refusals), default=None)

    def tightest(self, category: Category) -> LimitState | None:
        """The limit of `category` with the fewest remaining units (for `RateLimit` headers)."""
        states = [s for s in self.limits if s.category is category]
        return min(states, key=lambda s: (s.remaining, -s.reset), default=None)


@dataclass(frozen=True, slots=True)
class OutcomeKey:
    """The dimensions of one outcome counter within an (org, hour)."""

    project_id: str
    key_id: str
    category: Category
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class OutcomeHour:
    """The cumulative outcome counts of one org and UTC hour, as they stand in the backend.

    Counts are totals since the hour started, never deltas: upsert them with SET semantics.
    `closed` hours receive no more writes and may be deleted once persisted. `generation` tells
    the counters apart from earlier ones of the same hour that the backend lost.
    """

    org_id: str
    hour: datetime
    closed: bool
    counts: Mapping[OutcomeKey, int]
    generation: str = ""


class QuotaError(Exception):
    """Base of the quota backend's errors."""


class PeriodNotSeeded(QuotaError):
    """The org's period counters are missing (new period, or Redis lost them): seed and retry."""

    def __init__(self, org_id: str, period_id: str) -> None:
        super().__init__(f"period counters of org {org_id} for period {period_id} are missing")
        self.org_id = org_id
        self.period_id = period_id


class QuotaBackend(Protocol):
    """Atomic admission against rate limits and period quotas, plus the outcome ledger."""

    async def admit(
        self, admission: Admission, policies: Mapping[Category, CategoryPolicy]
    ) -> Decision:
        """Admit or refuse the whole request and record its outcomes.

        `policies` must cover every category of the admission; policies of other categories are
        evaluated read-only to report their state (`limits`, `blocked`). Raises PeriodNotSeeded
        without changing anything when the period counters are missing.
        """
        ...

    async def refund(
        self, admission: Admission, refile: Outcome | None = Outcome.STORE_UNAVAILABLE
    ) -> None:
        """Undo an accepted admission (or a part of it, as an Admission of those units); call
        once per such admission. Its units move from `accepted` to `refile` (the store failed),
        or are only taken off `accepted` when `refile` is None (duplicates already stored)."""
        ...

    async def record_outcome(
        self,
        org_id: str,
        project_id: str,
        key_id: str,
        category: Category,
        outcome: Outcome,
        units: int,
        at: datetime,
    ) -> None:
        """Count units refused before admission (`invalid`, …); `accepted` only comes from admit."""
        ...

    async def period_usage(self, org_id: str, period_id: str) -> dict[Category, int] | None:
        """Units admitted so far in the period, or None if the counters are missing."""
        ...

    async def seed_period(
        self,
        org_id: str,
        period_id: str,
        used: Mapping[Category, int],
        *,
        period_end: datetime,
    ) -> None:
        """Create the period counters from the ledger; never overwrites an existing counter."""
        ...

    async def pending_orgs(self) -> list[str]:
        """Orgs that may have outcome hours not yet deleted."""
        ...

    async def pending_outcomes(
        self, org_id: str, *, now: datetime | None = None
    ) -> list[OutcomeHour]:
        """Every outcome hour of the org still held, oldest first, with cumulative counts."""
        ...

    async def delete_hours(
        self, org_id: str, hours: Iterable[datetime], *, now: datetime | None = None
    ) -> list[datetime]:
        """Delete persisted hours that are closed at `now`; returns the hours deleted."""
        ...

    async def discard_org(self, org_id: str) -> int:
        """Forget everything held for a deleted org (counters, buckets, outcome hours)."""
        ...


UsageLoader = Callable[[str, str], Awaitable[Mapping[Category, int]]]
"""Reads an org's used units of a period from the ledger: (org_id, period_id) -> used."""


async def admit_with_seed(
    backend: QuotaBackend,
    admission: Admission,
    policies: Mapping[Category, CategoryPolicy],
    load_used: UsageLoader,
) -> Decision:
    """Admit, rebuilding missing period counters from the ledger once if needed."""
    try:
        return await backend.admit(admission, policies)
    except PeriodNotSeeded:
        used = await load_used(admission.org_id, admission.period_id)
        await backend.seed_period(
            admission.org_id, admission.period_id, used, period_end=admission.period_end
        )
        return await backend.admit(admission, policies)


def is_closed(hour: datetime, now: datetime, grace: timedelta) -> bool:
    """An hour is closed once it ended more than `grace` ago: no write may target it any more."""
    return hour + timedelta(hours=1) + grace <= now
