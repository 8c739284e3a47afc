"""Admission for the gateway: one Redis round trip per request in the steady state.

An org's entitlements (plan, overrides, period, spend cap) and the policies built from them are
cached in-process for a few seconds and evicted at once when a plan or override changes (Redis
pub/sub). The spend-cap limits use the period usage read at refresh time: between refreshes the
period counters in Redis still cap every category exactly; only the cross-category budget of a
spend cap is a few seconds stale.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeGuard

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import metering, subscriptions
from billing.entitlements import Entitlements
from billing.errors import OrgSuspendedError, QuotaUnavailableError
from billing.plans import Period
from billing.quotas.base import (
    MAX_UNITS,
    Admission,
    Category,
    CategoryPolicy,
    Decision,
    Outcome,
    QuotaBackend,
    RateLimit,
    admit_with_seed,
)
from infra import pubsub
from tenancy.authz import system_context
from tenancy.context import Actor

CHANNEL = "tg:entitlements:invalidate"
ACTOR = Actor("system", "gateway")
SUSPENDED = "suspended"
RETRY_AFTER_SECONDS = "2"


@dataclass
class _Entry:
    expires: float
    entitlements: Entitlements
    period: Period
    used: Mapping[Category, int]
    policies: dict[str, Mapping[Category, CategoryPolicy]] = field(default_factory=dict)


def key_rate_limits(raw: Mapping[str, object] | None) -> dict[Category, RateLimit]:
    """A key's per-category rate-limit overrides as stored on the key, whatever was stored.

    A value beyond what the kernel represents (2**53) is clamped to it: it is then no lower
    than the project's limit and so, as any override that does not lower, ignored. A value that
    is no limit at all (unknown category, not a positive number) is ignored.
    """
    limits: dict[Category, RateLimit] = {}
    for name, value in (raw or {}).items():
        if not isinstance(value, dict) or name not in Category.__members__.values():
            continue
        rate, burst = value.get("rate"), value.get("burst")
        if not _positive_number(rate) or not _positive_number(burst):
            continue
        limits[Category(name)] = RateLimit(
            rate=min(float(rate), float(MAX_UNITS)),
            burst=max(1, min(int(burst), MAX_UNITS)),
        )
    return limits


def _positive_number(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@dataclass(frozen=True)
class Admitted:
    """A decision and what the caller needs next (the tier to write to, the admission to refund)."""

    decision: Decision
    admission: Admission
    entitlements: Entitlements


@contextlib.contextmanager
def _quota_store() -> Iterator[None]:
    """Turn a Redis that does not answer into a 503 to retry (nothing was admitted)."""
    try:
        yield
    except RedisError as exc:
        raise QuotaUnavailableError(
            "Limits cannot be checked right now; retry shortly",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from exc


class AdmissionService:
    """Checks and counts every ingest request against the org's limits."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        backend: QuotaBackend,
        redis: aioredis.Redis,
        ttl_seconds: float = 5.0,
    ) -> None:
        self._factory = session_factory
        self._backend = backend
        self._redis = redis
        self._ttl = ttl_seconds
        # Bounded: entries also carry their own expiry (and end with their period).
        self._entries: TTLCache[str, _Entry] = TTLCache(maxsize=100_000, ttl=ttl_seconds)

    async def _load(self, org_id: str, at: datetime) -> _Entry:
        entry = self._entries.get(org_id)
        if entry is not None and entry.expires > time.monotonic() and at < entry.period.end:
            return entry
        async with self._factory() as session:
            context = await system_context(session, org_id, ACTOR)
            ent = await subscriptions.entitlements(session, context)
            await session.commit()  # a first read may have opened the Free subscription
        period = ent.period(at)
        used = await self._backend.period_usage(org_id, period.id) or {}
        entry = _Entry(time.monotonic() + self._ttl, ent, period, used)
        self._entries[org_id] = entry
        return entry

    async def _load_used(self, org_id: str, period_id: str) -> Mapping[Category, int]:
        entry = self._entries[org_id]
        async with self._factory() as session:
            context = await system_context(session, org_id, ACTOR)
            return await metering.period_used(session, context, self._backend, entry.period)

    async def admit(
        self,
        *,
        org_id: str,
        project_id: str,
        key_id: str,
        key_limits: Mapping[str, object] | None,
        units: Mapping[Category, int],
        at: datetime,
    ) -> Admitted:
        """Admit or refuse the whole request (402 when the org is suspended, 503 without Redis)."""
        with _quota_store():
            entry = await self._load(org_id, at)
            ent = entry.entitlements
            if ent.status == SUSPENDED:
                raise OrgSuspendedError(
                    "Ingestion is suspended until the open invoice is paid", org_id=org_id
                )
            policies = entry.policies.get(key_id)
            if policies is None:
                policies = ent.policies(entry.used, key_rate_limits(key_limits))
                entry.policies[key_id] = policies
            admission = Admission(
                org_id=org_id,
                project_id=project_id,
                key_id=key_id,
                period_id=entry.period.id,
                period_end=entry.period.end,
                units=units,
                at=at,
            )
            decision = await admit_with_seed(self._backend, admission, policies, self._load_used)
            return Admitted(decision, admission, ent)

    async def refund(
        self, admission: Admission, refile: Outcome | None = Outcome.STORE_UNAVAILABLE
    ) -> None:
        """Undo an admission whose store failed (nothing is billed as accepted), or the part of
        one the store already held (`refile=None`: billed when first stored)."""
        await self._backend.refund(admission, refile)

    async def record_invalid(
        self,
        org_id: str,
        project_id: str,
        key_id: str,
        category: Category,
        units: int,
        at: datetime,
    ) -> None:
        """Count units refused as malformed."""
        if units > 0:
            await self._backend.record_outcome(
                org_id, project_id, key_id, category, Outcome.INVALID, units, at
            )

    async def entitlements(self, org_id: str, at: datetime) -> Entitlements:
        """An org's entitlements, from the cache when fresh (loaded and cached otherwise)."""
        with _quota_store():
            return (await self._load(org_id, at)).entitlements

    def cached(self, org_id: str) -> Entitlements | None:
        """An org's entitlements if this process holds a fresh copy."""
        entry = self._entries.get(org_id)
        return entry.entitlements if entry and entry.expires > time.monotonic() else None

    def evict(self, org_id: str) -> None:
        """Forget an org's cached entitlements."""
        self._entries.pop(org_id, None)

    async def publish_invalidation(self, org_id: str) -> None:
        """Tell every process that an org's plan or overrides changed (call after commit)."""
        self.evict(org_id)
        await self._redis.publish(CHANNEL, org_id)

    async def listen(self) -> None:
        """Evict on every invalidation message (and everything after a gap) until cancelled."""
        await pubsub.listen(
            self._redis, CHANNEL, lambda data: self.evict(data.decode()), self._entries.clear
        )
