"""The Redis quota backend against a real Redis: admission, refunds, seeding, the outcome ledger."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.quotas.base import (
    MAX_UNITS,
    Admission,
    Category,
    CategoryPolicy,
    Decision,
    Outcome,
    PeriodLimit,
    PeriodNotSeeded,
    RateLimit,
    Reason,
    Refusal,
    Scope,
    admit_with_seed,
)
from billing.quotas.redis import (
    PENDING_ORGS_KEY,
    RedisQuotaBackend,
    bucket_key,
    period_key,
)

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
"""Requests happen around `HOUR`; keys expire on the real clock, so it stays near real time."""
PERIOD_ID = "2026-11-01"
PERIOD_END = HOUR + timedelta(days=10)
NEXT_HOUR = HOUR + timedelta(hours=1)
GENEROUS = RateLimit(rate=1_000_000, burst=1_000_000)


def new_org() -> str:
    return f"org_{uuid.uuid4().hex[:12]}"


def admission(
    org: str,
    units: Mapping[Category, int],
    *,
    at: datetime = HOUR,
    project: str = "prj_a",
    key: str = "key_a",
) -> Admission:
    return Admission(
        org_id=org,
        project_id=project,
        key_id=key,
        period_id=PERIOD_ID,
        period_end=PERIOD_END,
        units=units,
        at=at,
    )


def policy(
    limit: int | None = None,
    *,
    reason: Reason = Reason.QUOTA_EXCEEDED,
    rate: RateLimit = GENEROUS,
    key_rate: RateLimit | None = None,
) -> CategoryPolicy:
    return CategoryPolicy(
        rate_limit=rate, key_rate_limit=key_rate, period_limit=PeriodLimit(limit, reason)
    )


@pytest.fixture
def quotas(redis_client: aioredis.Redis) -> RedisQuotaBackend:
    return RedisQuotaBackend(redis_client)


@pytest.fixture
async def pooled_quotas(
    redis_client: aioredis.Redis, redis_url: str
) -> AsyncIterator[RedisQuotaBackend]:
    """A backend whose client queues for a connection instead of failing past 100 in flight.

    redis-py 8's default pool raises MaxConnectionsError beyond `max_connections` (100); a
    gateway under load needs the blocking pool, which this fixture uses like production should.
    """
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=32, timeout=10)
    client = aioredis.Redis.from_pool(pool)
    try:
        yield RedisQuotaBackend(client)
    finally:
        await client.aclose()


async def seeded(quotas: RedisQuotaBackend, used: Mapping[Category, int] | None = None) -> str:
    org = new_org()
    await quotas.seed_period(org, PERIOD_ID, used or {}, period_end=PERIOD_END)
    return org


async def outcome_totals(quotas: RedisQuotaBackend, org: str) -> Counter[tuple[Category, Outcome]]:
    totals: Counter[tuple[Category, Outcome]] = Counter()
    for hour_ in await quotas.pending_outcomes(org, now=HOUR):
        for k, n in hour_.counts.items():
            totals[k.category, k.outcome] += n
    return totals


async def snapshot(client: aioredis.Redis, org: str) -> dict[Any, dict[Any, Any]]:
    """Every quota counter (period and buckets) of the org, outcomes excluded."""
    keys = [*await client.keys(f"tg:{{{org}}}:tb:*"), *await client.keys(f"tg:{{{org}}}:period:*")]
    return {k: await client.hgetall(k) for k in keys}


class TestValueObjects:
    def test_per_key_override_above_the_project_limit_is_refused(self) -> None:
        with pytest.raises(ValueError, match="may only lower"):
            CategoryPolicy(
                rate_limit=RateLimit(rate=100, burst=1000),
                key_rate_limit=RateLimit(rate=200, burst=1000),
            )
        with pytest.raises(ValueError, match="may only lower"):
            CategoryPolicy(
                rate_limit=RateLimit(rate=100, burst=1000),
                key_rate_limit=RateLimit(rate=100, burst=1001),
            )

    def test_per_key_override_may_lower_the_project_limit(self) -> None:
        lower = RateLimit(rate=10, burst=100)
        assert CategoryPolicy(rate_limit=GENEROUS, key_rate_limit=lower).key_rate_limit == lower

    @pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (math.inf, 10), (1, 0)])
    def test_rate_limit_needs_a_positive_rate_and_burst(self, rate: float, burst: int) -> None:
        with pytest.raises(ValueError, match=r"rate|burst"):
            RateLimit(rate=rate, burst=burst)

    def test_burst_defaults_to_ten_seconds_worth(self) -> None:
        assert RateLimit.per_second(5_000) == RateLimit(rate=5_000, burst=50_000)

    def test_period_limit_cannot_refuse_as_rate_limited(self) -> None:
        with pytest.raises(ValueError, match="quota_exceeded or spend_cap"):
            PeriodLimit(10, Reason.RATE_LIMITED)

    def test_counts_beyond_exact_double_range_are_refused(self) -> None:
        with pytest.raises(ValueError, match="2\\*\\*53"):
            PeriodLimit.hard_cap(MAX_UNITS + 1)
        with pytest.raises(ValueError, match="2\\*\\*53"):
            admission("org_a", {Category.LOGS: MAX_UNITS + 1})

    @pytest.mark.parametrize("units", [{}, {Category.LOGS: 0}, {Category.LOGS: -5}])
    def test_admission_needs_positive_units(self, units: dict[Category, int]) -> None:
        with pytest.raises(ValueError, match=r"units|category"):
            admission("org_a", units)

    def test_admission_needs_an_aware_time(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            admission("org_a", {Category.LOGS: 1}, at=datetime(2026, 1, 1))  # noqa: DTZ001

    @pytest.mark.parametrize("org", ["org{x}", "a:b", "a|b", ""])
    def test_ids_that_would_break_key_names_are_refused(self, org: str) -> None:
        with pytest.raises(ValueError, match="org_id"):
            admission(org, {Category.LOGS: 1})

    def test_decision_is_accepted_exactly_when_nothing_refused_it(self) -> None:
        refusal = Refusal(Category.LOGS, Scope.ORG, Reason.QUOTA_EXCEEDED, 5)
        with pytest.raises(ValueError, match="accepted if and only if"):
            Decision(accepted=True, refusals=(refusal,))
        with pytest.raises(ValueError, match="accepted if and only if"):
            Decision(accepted=False)
        with pytest.raises(ValueError, match="retry_after"):
            Refusal(Category.LOGS, Scope.ORG, Reason.QUOTA_EXCEEDED, 0)


class CountingRedis(aioredis.Redis):
    """A client that counts the commands it sends (each is one round trip)."""

    commands: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class TestRoundTrips:
    async def test_steady_state_admission_is_one_round_trip(
        self, redis_client: aioredis.Redis, redis_url: str
    ) -> None:
        client = cast(CountingRedis, CountingRedis.from_url(redis_url))
        client.commands = []
        quotas = RedisQuotaBackend(client)
        org = await seeded(quotas)
        policies = {c: policy(1_000) for c in Category}
        try:
            await quotas.admit(admission(org, {Category.METRICS: 1}), policies)
            client.commands.clear()

            await quotas.admit(admission(org, {Category.METRICS: 1, Category.LOGS: 9}), policies)
            await quotas.admit(admission(org, {Category.SPANS: 1_001}), policies)  # refused

            assert client.commands == ["EVALSHA", "EVALSHA"]
        finally:
            await client.aclose()

    async def test_first_write_of_an_hour_also_indexes_the_org(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)

        await quotas.admit(admission(org, {Category.METRICS: 1}), {Category.METRICS: policy()})

        assert await quotas.pending_orgs() == [org]


class TestHardCap:
    async def test_free_plan_is_hard_capped(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(100)}

        first = await quotas.admit(admission(org, {Category.METRICS: 60}), policies)
        second = await quotas.admit(admission(org, {Category.METRICS: 50}), policies)
        third = await quotas.admit(admission(org, {Category.METRICS: 40}), policies)

        assert first.accepted
        assert not second.accepted
        assert third.accepted  # exactly at the limit is still within it
        assert second.refusals == (
            Refusal(
                Category.METRICS,
                Scope.ORG,
                Reason.QUOTA_EXCEEDED,
                int((PERIOD_END - HOUR).total_seconds()),
            ),
        )
        assert second.retry_after == int((PERIOD_END - HOUR).total_seconds())
        assert (await quotas.period_usage(org, PERIOD_ID) or {})[Category.METRICS] == 100

    async def test_refusal_changes_nothing_but_the_refused_outcomes(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas, {Category.METRICS: 90})
        policies = {Category.METRICS: policy(100, rate=RateLimit(rate=10, burst=50))}
        await quotas.admit(admission(org, {Category.METRICS: 5}), policies)
        before = await snapshot(redis_client, org)

        later = HOUR + timedelta(seconds=3)  # would refill the bucket, were it written
        decision = await quotas.admit(admission(org, {Category.METRICS: 20}, at=later), policies)

        assert not decision.accepted
        assert await snapshot(redis_client, org) == before
        assert await outcome_totals(quotas, org) == {
            (Category.METRICS, Outcome.ACCEPTED): 5,
            (Category.METRICS, Outcome.QUOTA_EXCEEDED): 20,
        }

    async def test_capped_category_is_reported_blocked_after_the_last_unit(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(10), Category.LOGS: policy(None)}

        decision = await quotas.admit(admission(org, {Category.LOGS: 7}), policies)
        assert decision.accepted
        assert decision.blocked == ()

        decision = await quotas.admit(admission(org, {Category.METRICS: 10}), policies)
        assert decision.accepted
        assert [(b.category, b.scope, b.reason) for b in decision.blocked] == [
            (Category.METRICS, Scope.ORG, Reason.QUOTA_EXCEEDED)
        ]
        metrics = decision.tightest(Category.METRICS)
        assert metrics is not None
        assert (metrics.scope, metrics.limit, metrics.remaining) == (Scope.ORG, 10, 0)


class TestMultiCategory:
    async def test_request_is_refused_whole_when_one_category_is_over(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas, {Category.TRACES: 99})
        policies = {Category.TRACES: policy(100), Category.SPANS: policy(20_000)}
        before = await snapshot(redis_client, org)

        decision = await quotas.admit(
            admission(org, {Category.TRACES: 2, Category.SPANS: 30}), policies
        )

        assert not decision.accepted
        assert [(r.category, r.reason) for r in decision.refusals] == [
            (Category.TRACES, Reason.QUOTA_EXCEEDED)
        ]
        assert await snapshot(redis_client, org) == before
        assert await outcome_totals(quotas, org) == {
            (Category.TRACES, Outcome.QUOTA_EXCEEDED): 2,
            (Category.SPANS, Outcome.QUOTA_EXCEEDED): 30,
        }

    async def test_each_category_keeps_its_own_refusal_reason(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {
            Category.TRACES: policy(1, reason=Reason.SPEND_CAP),
            Category.SPANS: policy(None, rate=RateLimit(rate=1, burst=10)),
        }
        await quotas.admit(admission(org, {Category.SPANS: 5}), policies)

        decision = await quotas.admit(
            admission(org, {Category.TRACES: 2, Category.SPANS: 8}), policies
        )

        assert {(r.category, r.scope, r.reason) for r in decision.refusals} == {
            (Category.TRACES, Scope.ORG, Reason.SPEND_CAP),
            (Category.SPANS, Scope.PROJECT, Reason.RATE_LIMITED),
        }
        assert await outcome_totals(quotas, org) == {
            (Category.SPANS, Outcome.ACCEPTED): 5,
            (Category.TRACES, Outcome.SPEND_CAP): 2,
            (Category.SPANS, Outcome.RATE_LIMITED): 8,
        }

    async def test_accepted_request_counts_every_category(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {c: policy(None) for c in Category}

        decision = await quotas.admit(
            admission(org, {Category.TRACES: 3, Category.SPANS: 40}), policies
        )

        assert decision.accepted
        assert await quotas.period_usage(org, PERIOD_ID) == {
            Category.METRICS: 0,
            Category.LOGS: 0,
            Category.TRACES: 3,
            Category.SPANS: 40,
        }

    async def test_a_category_without_policy_is_a_caller_bug(
        self, quotas: RedisQuotaBackend
    ) -> None:
        with pytest.raises(ValueError, match="no policy"):
            await quotas.admit(admission(new_org(), {Category.LOGS: 1}), {})


class TestOverageAndSpendCap:
    async def test_overage_is_allowed_when_the_period_is_unlimited(
        self, quotas: RedisQuotaBackend
    ) -> None:
        included = 10_000_000
        org = await seeded(quotas, {Category.METRICS: included})

        decision = await quotas.admit(
            admission(org, {Category.METRICS: 5_000}), {Category.METRICS: policy(None)}
        )

        assert decision.accepted
        assert (await quotas.period_usage(org, PERIOD_ID) or {})[Category.METRICS] == 10_005_000
        assert all(s.scope is not Scope.ORG for s in decision.limits)

    async def test_spend_cap_refuses_with_its_own_reason(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas, {Category.LOGS: 12 * 10**9})
        policies = {Category.LOGS: policy(12 * 10**9 + 1_000, reason=Reason.SPEND_CAP)}

        decision = await quotas.admit(admission(org, {Category.LOGS: 2_000}), policies)

        assert [(r.scope, r.reason) for r in decision.refusals] == [(Scope.ORG, Reason.SPEND_CAP)]
        assert await outcome_totals(quotas, org) == {(Category.LOGS, Outcome.SPEND_CAP): 2_000}


class TestTokenBucket:
    async def test_bucket_refills_over_time(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {Category.LOGS: policy(rate=RateLimit(rate=100, burst=1_000))}

        drain = await quotas.admit(admission(org, {Category.LOGS: 1_000}), policies)
        too_soon = await quotas.admit(
            admission(org, {Category.LOGS: 300}, at=HOUR + timedelta(seconds=2)), policies
        )
        refilled = await quotas.admit(
            admission(org, {Category.LOGS: 300}, at=HOUR + timedelta(seconds=3)), policies
        )

        assert drain.accepted
        assert too_soon.refusals == (Refusal(Category.LOGS, Scope.PROJECT, Reason.RATE_LIMITED, 1),)
        assert refilled.accepted
        state = refilled.tightest(Category.LOGS)
        assert state is not None
        assert (state.limit, state.remaining, state.reset) == (1_000, 0, 10)

    async def test_retry_after_is_the_time_until_enough_tokens(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(rate=RateLimit(rate=10, burst=100))}
        await quotas.admit(admission(org, {Category.METRICS: 100}), policies)

        decision = await quotas.admit(admission(org, {Category.METRICS: 55}), policies)

        assert decision.retry_after == 6
        assert decision.blocked == (
            Refusal(Category.METRICS, Scope.PROJECT, Reason.RATE_LIMITED, 1),
        )

    async def test_request_larger_than_the_burst_passes_a_full_bucket_into_debt(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.LOGS: policy(rate=RateLimit(rate=100, burst=1_000))}

        big = await quotas.admit(admission(org, {Category.LOGS: 1_500}), policies)
        next_one = await quotas.admit(
            admission(org, {Category.LOGS: 1}, at=HOUR + timedelta(seconds=5)), policies
        )

        assert big.accepted
        assert big.blocked == (Refusal(Category.LOGS, Scope.PROJECT, Reason.RATE_LIMITED, 6),)
        assert next_one.retry_after == 1  # 500 in debt + 1 token at 100/s: 5.01 s

    async def test_a_gateway_with_a_late_clock_gets_no_extra_refill(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(rate=RateLimit(rate=10, burst=100))}
        ten_s = HOUR + timedelta(seconds=10)
        await quotas.admit(admission(org, {Category.METRICS: 50}, at=ten_s), policies)

        late_clock = await quotas.admit(admission(org, {Category.METRICS: 10}), policies)
        again = await quotas.admit(admission(org, {Category.METRICS: 50}, at=ten_s), policies)

        assert late_clock.accepted  # no refill for it, but 50 tokens were left
        assert again.refusals == (Refusal(Category.METRICS, Scope.PROJECT, Reason.RATE_LIMITED, 1),)

    async def test_buckets_are_per_project(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(rate=RateLimit(rate=1, burst=10))}

        first = await quotas.admit(admission(org, {Category.METRICS: 10}), policies)
        other = await quotas.admit(admission(org, {Category.METRICS: 10}, project="b"), policies)

        assert first.accepted
        assert other.accepted

    async def test_bucket_expires_once_it_would_be_full(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(rate=RateLimit(rate=10, burst=100))}
        await quotas.admit(admission(org, {Category.METRICS: 40}), policies)

        ttl_ms = await redis_client.pttl(bucket_key(org, "prj_a", Category.METRICS))

        assert 4_000 < ttl_ms <= 5_000


class TestKeyOverride:
    async def test_key_override_limits_that_key_only(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        project_rate = RateLimit(rate=100, burst=1_000)
        limited = {Category.METRICS: policy(rate=project_rate, key_rate=RateLimit(1, 10))}
        plain = {Category.METRICS: policy(rate=project_rate)}

        first = await quotas.admit(admission(org, {Category.METRICS: 10}), limited)
        second = await quotas.admit(admission(org, {Category.METRICS: 10}), limited)
        other_key = await quotas.admit(admission(org, {Category.METRICS: 500}, key="key_b"), plain)

        assert first.accepted
        assert second.refusals == (Refusal(Category.METRICS, Scope.KEY, Reason.RATE_LIMITED, 10),)
        assert other_key.accepted
        scopes = {(s.scope, s.remaining) for s in second.limits}
        assert scopes == {(Scope.PROJECT, 990), (Scope.KEY, 0)}

    async def test_key_traffic_also_drains_the_project_bucket(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        project_rate = RateLimit(rate=1, burst=100)
        limited = {Category.METRICS: policy(rate=project_rate, key_rate=RateLimit(1, 60))}

        await quotas.admit(admission(org, {Category.METRICS: 60}), limited)
        decision = await quotas.admit(admission(org, {Category.METRICS: 50}, key="key_b"), limited)

        assert {r.scope for r in decision.refusals} == {Scope.PROJECT}


class TestConcurrency:
    async def test_parallel_admissions_admit_exactly_the_limit(
        self, pooled_quotas: RedisQuotaBackend
    ) -> None:
        quotas = pooled_quotas
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(50)}

        decisions = await asyncio.gather(
            *(quotas.admit(admission(org, {Category.METRICS: 1}), policies) for _ in range(200))
        )

        assert sum(d.accepted for d in decisions) == 50
        assert (await quotas.period_usage(org, PERIOD_ID) or {})[Category.METRICS] == 50
        assert await outcome_totals(quotas, org) == {
            (Category.METRICS, Outcome.ACCEPTED): 50,
            (Category.METRICS, Outcome.QUOTA_EXCEEDED): 150,
        }

    async def test_parallel_admissions_take_exactly_the_burst(
        self, pooled_quotas: RedisQuotaBackend
    ) -> None:
        quotas = pooled_quotas
        org = await seeded(quotas)
        policies = {Category.LOGS: policy(rate=RateLimit(rate=1, burst=300))}

        decisions = await asyncio.gather(
            *(quotas.admit(admission(org, {Category.LOGS: 7}), policies) for _ in range(200))
        )

        assert sum(d.accepted for d in decisions) == 300 // 7
        assert await outcome_totals(quotas, org) == {
            (Category.LOGS, Outcome.ACCEPTED): 7 * (300 // 7),
            (Category.LOGS, Outcome.RATE_LIMITED): 7 * (200 - 300 // 7),
        }


class TestRefund:
    async def test_refund_restores_counters_and_moves_outcomes(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas, {Category.TRACES: 10, Category.SPANS: 100})
        policies = {
            Category.TRACES: policy(100, rate=RateLimit(rate=10, burst=100)),
            Category.SPANS: policy(
                None, rate=RateLimit(rate=10, burst=1_000), key_rate=RateLimit(5, 500)
            ),
        }
        request = admission(org, {Category.TRACES: 4, Category.SPANS: 90})
        assert (await quotas.admit(request, policies)).accepted

        await quotas.refund(request)

        usage = await quotas.period_usage(org, PERIOD_ID)
        assert usage is not None
        assert (usage[Category.TRACES], usage[Category.SPANS]) == (10, 100)
        buckets = {
            bucket_key(org, "prj_a", Category.TRACES): 100,
            bucket_key(org, "prj_a", Category.SPANS): 1_000,
            bucket_key(org, "prj_a", Category.SPANS, "key_a"): 500,
        }
        for key, burst in buckets.items():
            assert float(await redis_client.hget(key, "tokens") or 0) == burst
        assert await outcome_totals(quotas, org) == {
            (Category.TRACES, Outcome.ACCEPTED): 0,
            (Category.TRACES, Outcome.STORE_UNAVAILABLE): 4,
            (Category.SPANS, Outcome.ACCEPTED): 0,
            (Category.SPANS, Outcome.STORE_UNAVAILABLE): 90,
        }

    async def test_refunding_duplicates_files_no_other_outcome(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas, {Category.LOGS: 10})
        request = admission(org, {Category.LOGS: 60})
        assert (await quotas.admit(request, {Category.LOGS: policy(1_000)})).accepted

        # 45 of the 60 were already stored by an earlier send: give them back, bill 15.
        await quotas.refund(replace(request, units={Category.LOGS: 45}), None)

        usage = await quotas.period_usage(org, PERIOD_ID)
        assert usage is not None
        assert usage[Category.LOGS] == 10 + 15
        assert await outcome_totals(quotas, org) == {(Category.LOGS, Outcome.ACCEPTED): 15}

    async def test_refunded_tokens_never_exceed_the_burst(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {Category.LOGS: policy(rate=RateLimit(rate=10, burst=100))}
        request = admission(org, {Category.LOGS: 60})
        await quotas.admit(request, policies)
        later = HOUR + timedelta(seconds=5)  # 40 + 50 refilled: a refund of 60 would make 150

        await quotas.refund(request)
        decision = await quotas.admit(admission(org, {Category.LOGS: 100}, at=later), policies)

        assert decision.accepted
        assert decision.blocked == (Refusal(Category.LOGS, Scope.PROJECT, Reason.RATE_LIMITED, 1),)

    async def test_refund_does_not_recreate_lost_period_counters(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas)
        request = admission(org, {Category.LOGS: 10})
        await quotas.admit(request, {Category.LOGS: policy(100)})
        await redis_client.delete(period_key(org, PERIOD_ID))

        await quotas.refund(request)

        assert await quotas.period_usage(org, PERIOD_ID) is None


class TestSeeding:
    async def test_missing_period_counters_ask_for_a_seed_and_change_nothing(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = new_org()

        with pytest.raises(PeriodNotSeeded):
            await quotas.admit(admission(org, {Category.LOGS: 1}), {Category.LOGS: policy(10)})

        assert await redis_client.keys(f"tg:{{{org}}}:*") == []
        assert await quotas.period_usage(org, PERIOD_ID) is None

    async def test_needs_seed_then_seed_then_admit(self, quotas: RedisQuotaBackend) -> None:
        org = new_org()
        policies = {Category.LOGS: policy(100)}
        loads: list[tuple[str, str]] = []

        async def load_used(org_id: str, period_id: str) -> dict[Category, int]:
            loads.append((org_id, period_id))
            return {Category.LOGS: 95}

        over = await admit_with_seed(
            quotas, admission(org, {Category.LOGS: 6}), policies, load_used
        )
        fits = await admit_with_seed(
            quotas, admission(org, {Category.LOGS: 5}), policies, load_used
        )

        assert loads == [(org, PERIOD_ID)]
        assert not over.accepted
        assert fits.accepted
        assert await quotas.period_usage(org, PERIOD_ID) == {
            Category.METRICS: 0,
            Category.LOGS: 100,
            Category.TRACES: 0,
            Category.SPANS: 0,
        }

    async def test_seed_never_overwrites_existing_counters(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas, {Category.METRICS: 10})
        await quotas.admit(admission(org, {Category.METRICS: 5}), {Category.METRICS: policy()})

        await quotas.seed_period(
            org, PERIOD_ID, {Category.METRICS: 0, Category.LOGS: 7}, period_end=PERIOD_END
        )

        usage = await quotas.period_usage(org, PERIOD_ID)
        assert usage is not None
        assert (usage[Category.METRICS], usage[Category.LOGS]) == (15, 0)

    async def test_period_counters_expire_after_the_period(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas)

        expire_at = await redis_client.expiretime(period_key(org, PERIOD_ID))

        assert expire_at == int((PERIOD_END + timedelta(days=7)).timestamp())


class TestOutcomeLedger:
    async def test_pending_hours_are_listed_with_cumulative_counts(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy(None)}
        await quotas.admit(admission(org, {Category.METRICS: 3}), policies)
        await quotas.admit(admission(org, {Category.METRICS: 4}, key="key_b"), policies)
        await quotas.admit(admission(org, {Category.METRICS: 4}), policies)
        await quotas.admit(admission(org, {Category.METRICS: 5}, at=NEXT_HOUR), policies)
        await quotas.record_outcome(
            org, "prj_a", "key_a", Category.LOGS, Outcome.INVALID, 100, HOUR + timedelta(minutes=9)
        )

        hours = await quotas.pending_outcomes(org, now=NEXT_HOUR + timedelta(minutes=20))

        assert await quotas.pending_orgs() == [org]
        assert [(h.hour, h.closed) for h in hours] == [(HOUR, True), (NEXT_HOUR, False)]
        assert {
            (k.project_id, k.key_id, k.category, k.outcome): n for k, n in hours[0].counts.items()
        } == {
            ("prj_a", "key_a", Category.METRICS, Outcome.ACCEPTED): 7,
            ("prj_a", "key_b", Category.METRICS, Outcome.ACCEPTED): 4,
            ("prj_a", "key_a", Category.LOGS, Outcome.INVALID): 100,
        }
        assert list(hours[1].counts.values()) == [5]

    async def test_an_hour_closes_a_grace_period_after_it_ends(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        await quotas.admit(admission(org, {Category.METRICS: 1}), {Category.METRICS: policy()})
        grace_end = NEXT_HOUR + quotas.outcome_grace

        (before,) = await quotas.pending_outcomes(org, now=grace_end - timedelta(seconds=1))
        (after,) = await quotas.pending_outcomes(org, now=grace_end)

        assert not before.closed
        assert after.closed

    async def test_only_closed_hours_are_deleted(self, quotas: RedisQuotaBackend) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy()}
        await quotas.admit(admission(org, {Category.METRICS: 1}), policies)
        await quotas.admit(admission(org, {Category.METRICS: 2}, at=NEXT_HOUR), policies)
        now = NEXT_HOUR + timedelta(minutes=30)

        deleted = await quotas.delete_hours(org, [HOUR, NEXT_HOUR], now=now)

        assert deleted == [HOUR]
        hours = await quotas.pending_outcomes(org, now=now)
        assert [(h.hour, sum(h.counts.values())) for h in hours] == [(NEXT_HOUR, 2)]
        assert await quotas.pending_orgs() == [org]

    async def test_org_leaves_the_pending_index_when_its_last_hour_is_deleted(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        await quotas.admit(admission(org, {Category.METRICS: 1}), {Category.METRICS: policy()})

        await quotas.delete_hours(org, [HOUR], now=NEXT_HOUR + timedelta(hours=1))

        assert await quotas.pending_outcomes(org) == []
        assert await quotas.pending_orgs() == []

    async def test_a_flush_that_runs_twice_persists_the_same_totals(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        await quotas.admit(admission(org, {Category.METRICS: 8}), {Category.METRICS: policy()})
        ledger: dict[tuple[str, datetime, str], int] = {}
        now = NEXT_HOUR + timedelta(hours=1)

        async def flush(*, crash_before_delete: bool) -> None:
            for org_id in await quotas.pending_orgs():
                hours = await quotas.pending_outcomes(org_id, now=now)
                for h in hours:  # upsert with SET semantics
                    for k, n in h.counts.items():
                        ledger[org_id, h.hour, f"{k.category}|{k.outcome}"] = n
                if not crash_before_delete:
                    await quotas.delete_hours(org_id, [h.hour for h in hours if h.closed], now=now)

        await flush(crash_before_delete=True)
        await flush(crash_before_delete=False)
        await flush(crash_before_delete=False)

        assert ledger == {(org, HOUR, "metrics|accepted"): 8}
        assert await quotas.pending_orgs() == []

    async def test_a_late_write_to_a_deleted_hour_is_dropped_not_recreated(
        self, quotas: RedisQuotaBackend
    ) -> None:
        org = await seeded(quotas)
        policies = {Category.METRICS: policy()}
        await quotas.admit(admission(org, {Category.METRICS: 1}), policies)
        await quotas.delete_hours(org, [HOUR], now=NEXT_HOUR + timedelta(hours=1))

        late = await quotas.admit(admission(org, {Category.METRICS: 2}), policies)
        await quotas.record_outcome(
            org, "prj_a", "key_a", Category.METRICS, Outcome.INVALID, 3, HOUR
        )

        assert late.accepted
        assert await quotas.pending_outcomes(org) == []
        assert quotas.late_outcome_writes == 2
        assert (await quotas.period_usage(org, PERIOD_ID) or {})[Category.METRICS] == 3

    async def test_accepted_outcomes_only_come_from_admission(
        self, quotas: RedisQuotaBackend
    ) -> None:
        with pytest.raises(ValueError, match="admit"):
            await quotas.record_outcome(
                "org_a", "prj_a", "key_a", Category.LOGS, Outcome.ACCEPTED, 1, HOUR
            )

    async def test_reindex_restores_an_org_missing_from_the_index(
        self, quotas: RedisQuotaBackend, redis_client: aioredis.Redis
    ) -> None:
        org = await seeded(quotas)
        await quotas.admit(admission(org, {Category.METRICS: 1}), {Category.METRICS: policy()})
        await redis_client.srem(PENDING_ORGS_KEY, org)  # a gateway died before its SADD

        assert await quotas.reindex_pending_orgs() == 1
        assert await quotas.pending_orgs() == [org]


@dataclass
class Bucket:
    """A Python model of the script's token bucket, same float operations in the same order."""

    rate: float
    burst: int
    tokens: float | None = None
    ts: float = 0.0

    def level(self, now: float) -> tuple[float, float]:
        if self.tokens is None:
            return float(self.burst), now
        elapsed = max(0.0, now - self.ts)
        return min(self.burst, self.tokens + elapsed * self.rate), max(self.ts, now)


requests = st.lists(
    st.tuples(
        st.integers(min_value=-1_000, max_value=3_000),  # ms since the previous one; clocks skew
        st.dictionaries(
            st.sampled_from([Category.METRICS, Category.LOGS]),
            st.integers(min_value=1, max_value=400),
            min_size=1,
        ),
    ),
    min_size=1,
    max_size=30,
)


class TestAdmissionProperties:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        steps=requests,
        limit=st.integers(min_value=0, max_value=3_000),
        rate=st.integers(min_value=1, max_value=500),
        burst=st.integers(min_value=1, max_value=600),
    )
    async def test_admissions_match_the_model_and_never_exceed_the_limit(
        self,
        quotas: RedisQuotaBackend,
        steps: list[tuple[int, dict[Category, int]]],
        limit: int,
        rate: int,
        burst: int,
    ) -> None:
        org = await seeded(quotas)  # a fresh org per example: no state leaks between examples
        policies = {
            Category.METRICS: policy(limit, rate=RateLimit(rate=rate, burst=burst)),
            Category.LOGS: policy(None, rate=RateLimit(rate=rate / 2, burst=burst)),
        }
        buckets = {c: Bucket(p.rate_limit.rate, p.rate_limit.burst) for c, p in policies.items()}
        used = dict.fromkeys(policies, 0)
        requested: Counter[Category] = Counter()
        at = HOUR
        for delay_ms, units in steps:
            at += timedelta(milliseconds=delay_ms)
            now = at.timestamp()
            levels = {c: buckets[c].level(now) for c in units}
            fits = all(levels[c][0] >= min(n, buckets[c].burst) for c, n in units.items())
            fits = fits and used[Category.METRICS] + units.get(Category.METRICS, 0) <= limit

            decision = await quotas.admit(admission(org, units, at=at), policies)

            assert decision.accepted == fits
            requested.update(units)
            if fits:
                for c, n in units.items():
                    buckets[c].tokens, buckets[c].ts = levels[c][0] - n, levels[c][1]
                    used[c] += n

        usage = await quotas.period_usage(org, PERIOD_ID)
        assert usage is not None
        assert usage[Category.METRICS] <= limit
        assert {c: usage[c] for c in used} == used
        totals = await outcome_totals(quotas, org)
        for c in requested:
            assert totals[c, Outcome.ACCEPTED] == used[c]
            assert sum(n for (cat, _), n in totals.items() if cat is c) == requested[c]
