"""The Redis quota backend: one atomic Lua script per admission, outcomes counted per hour.

Key layout (every key of an org carries the hash tag `{org_id}`, so the scripts run on Redis
Cluster; only the global index of orgs with pending outcomes lives in another slot):

    tg:{org}:period:<period_id>            hash  category -> units admitted this period
    tg:{org}:tb:<project>:<category>       hash  {tokens, ts}: the project's token bucket
    tg:{org}:tb:<project>:<category>:key:<key_id>   the same for a key with an override
    tg:{org}:out:<YYYYMMDDHH>              hash  'project|key|category|outcome' -> units
    tg:{org}:out:hours                     zset  pending outcome hours, score = hour start
    tg:{org}:out:sealed                    str   start of the latest hour deleted by the flush
    tg:out:orgs                            set   orgs that may have pending outcome hours

Time: the scripts use the admission's `at`, not the Redis server's TIME. The outcome hour must
be named by the caller anyway (a script may only touch the keys it is given), so bucket refill,
Retry-After and the hour an outcome lands in all follow one clock; it makes the buckets
deterministic under test; and the scripts stay free of non-deterministic commands. The cost is
reliance on NTP-synchronised gateways: a bucket's timestamp never moves backwards, so a skewed
gateway can at most advance a refill by its skew, once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from billing.quotas.base import (
    Admission,
    Category,
    CategoryPolicy,
    Decision,
    LimitState,
    Outcome,
    OutcomeHour,
    OutcomeKey,
    PeriodNotSeeded,
    Reason,
    Refusal,
    Scope,
    as_utc,
    check_id,
    check_units,
    hour_start,
    is_closed,
)

logger = logging.getLogger(__name__)

PENDING_ORGS_KEY = "tg:out:orgs"
GENERATION = "~gen"
"""The field of an outcome hour's hash naming its generation (set by outcomes.lua)."""


def period_key(org_id: str, period_id: str) -> str:
    """The org's period counters."""
    return f"tg:{{{org_id}}}:period:{period_id}"


def bucket_key(org_id: str, project_id: str, category: Category, key_id: str | None = None) -> str:
    """A project's token bucket of one category, or a key's own bucket when it has an override."""
    base = f"tg:{{{org_id}}}:tb:{project_id}:{category.value}"
    return base if key_id is None else f"{base}:key:{key_id}"


def outcome_hour_key(org_id: str, hour: datetime) -> str:
    """The outcome counters of one org and UTC hour."""
    return f"tg:{{{org_id}}}:out:{hour_member(hour)}"


def outcome_hours_key(org_id: str) -> str:
    """The org's pending outcome hours."""
    return f"tg:{{{org_id}}}:out:hours"


def sealed_key(org_id: str) -> str:
    """The start of the org's latest hour deleted by the flush."""
    return f"tg:{{{org_id}}}:out:sealed"


def hour_member(hour: datetime) -> str:
    """An hour's name, 'YYYYMMDDHH' in UTC."""
    return hour_start(hour).strftime("%Y%m%d%H")


@cache
def _script(name: str, *, with_prelude: bool = False) -> str:
    lua = files("billing.quotas")
    source = lua.joinpath(name).read_text(encoding="utf-8")
    if with_prelude:
        source = lua.joinpath("outcomes.lua").read_text(encoding="utf-8") + "\n" + source
    return source


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds_until(end: datetime, now: datetime) -> int:
    return max(0, math.ceil((end - now).total_seconds()))


@lru_cache(maxsize=4096)
def _policy_spec(policy: CategoryPolicy) -> str:
    """'rate burst key_rate key_burst limit reason' as admit.lua reads it ('-' for none)."""
    key_limit, period = policy.key_rate_limit, policy.period_limit
    return " ".join(
        (
            repr(float(policy.rate_limit.rate)),
            str(policy.rate_limit.burst),
            "-" if key_limit is None else repr(float(key_limit.rate)),
            "-" if key_limit is None else str(key_limit.burst),
            "-" if period.limit is None else str(period.limit),
            period.reason.value,
        )
    )


def _quads(items: list[str]) -> list[tuple[str, str, str, str]]:
    return list(zip(items[0::4], items[1::4], items[2::4], items[3::4], strict=True))


def _field_prefix(project_id: str, key_id: str) -> str:
    return f"{project_id}|{key_id}|"


class RedisQuotaBackend:
    """`QuotaBackend` on Redis (or Redis Cluster: every script touches one org's slot)."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        outcome_grace: timedelta = timedelta(minutes=15),
        outcome_ttl: timedelta = timedelta(days=35),
        period_retention: timedelta = timedelta(days=7),
    ) -> None:
        """Wrap a client; the durations tune the outcome ledger and counter expiry.

        `outcome_grace`: an hour is closed (deletable once persisted) this long after it ends;
        it must exceed the longest request plus clock skew, or late outcomes are dropped.
        `outcome_ttl`: safety-net expiry of outcome hours, should the flush stop for that long.
        `period_retention`: how long period counters outlive their period.
        """
        self._client = client
        self.outcome_grace = outcome_grace
        self._outcome_ttl = str(int(outcome_ttl.total_seconds()))
        self._period_retention = period_retention
        self._admit = client.register_script(_script("admit.lua", with_prelude=True))
        self._refund = client.register_script(_script("refund.lua", with_prelude=True))
        self._record = client.register_script(_script("record.lua", with_prelude=True))
        self._seed = client.register_script(_script("seed.lua"))
        self._seal = client.register_script(_script("seal.lua"))
        self.late_outcome_writes = 0
        """Outcome writes dropped because their hour was already flushed (see outcomes.lua)."""

    async def admit(
        self, admission: Admission, policies: Mapping[Category, CategoryPolicy]
    ) -> Decision:
        """Admit or refuse the whole request in one round trip (two the first time in an hour)."""
        policies = {Category(c): p for c, p in policies.items()}
        missing = admission.units.keys() - policies.keys()
        if missing:
            raise ValueError(f"no policy for categories {sorted(missing)}")
        org, hour = admission.org_id, hour_start(admission.at)
        categories = [c for c in Category if c in policies]
        keys = [
            period_key(org, admission.period_id),
            sealed_key(org),
            outcome_hours_key(org),
            outcome_hour_key(org, hour),
        ]
        args: list[str | int] = [
            repr(admission.at.timestamp()),
            repr(admission.period_end.timestamp()),
            hour_member(hour),
            int(hour.timestamp()),
            self._outcome_ttl,
            _field_prefix(admission.project_id, admission.key_id),
        ]
        for category in categories:
            keys.append(bucket_key(org, admission.project_id, category))
            keys.append(bucket_key(org, admission.project_id, category, admission.key_id))
            units = admission.units.get(category, 0)
            args.append(f"{category.value} {units} {_policy_spec(policies[category])}")
        reply = _text(await self._admit(keys=keys, args=args)).split(" ")
        status = reply[0]
        if status == "needs_seed":
            raise PeriodNotSeeded(org, admission.period_id)
        await self._after_outcome_write(org, hour_added=int(reply[1]), late=int(reply[2]))
        end = 4 + 4 * int(reply[3])
        refusals = tuple(
            Refusal(Category(c), Scope(scope), Reason(reason), int(retry))
            for c, scope, reason, retry in _quads(reply[4:end])
        )
        limits: list[LimitState] = []
        blocked: list[Refusal] = []
        for name, project_tokens, key_tokens, used_units in _quads(reply[end:]):
            category = Category(name)
            policy = policies[category]
            buckets = [(Scope.PROJECT, policy.rate_limit, float(project_tokens))]
            if policy.key_rate_limit is not None:
                buckets.append((Scope.KEY, policy.key_rate_limit, float(key_tokens)))
            for scope, limit, tokens in buckets:
                limits.append(
                    LimitState(
                        category=category,
                        scope=scope,
                        limit=limit.burst,
                        remaining=max(0, min(limit.burst, math.floor(tokens))),
                        reset=max(0, math.ceil((limit.burst - tokens) / limit.rate)),
                    )
                )
                if tokens < 1:
                    retry = math.ceil((1 - tokens) / limit.rate)
                    blocked.append(Refusal(category, scope, Reason.RATE_LIMITED, max(1, retry)))
            period = policy.period_limit
            if period.limit is not None:
                used = int(float(used_units))
                reset = _seconds_until(admission.period_end, admission.at)
                remaining = max(0, period.limit - used)
                limits.append(LimitState(category, Scope.ORG, period.limit, remaining, reset))
                if used >= period.limit:
                    blocked.append(Refusal(category, Scope.ORG, period.reason, max(1, reset)))
        return Decision(
            accepted=status == "accepted",
            refusals=refusals,
            limits=tuple(limits),
            blocked=tuple(blocked),
        )

    async def refund(
        self, admission: Admission, refile: Outcome | None = Outcome.STORE_UNAVAILABLE
    ) -> None:
        """Give back an accepted admission's units and re-file its outcomes as `refile`."""
        org, hour = admission.org_id, hour_start(admission.at)
        keys = [
            period_key(org, admission.period_id),
            sealed_key(org),
            outcome_hours_key(org),
            outcome_hour_key(org, hour),
        ]
        args: list[str | int] = [
            hour_member(hour),
            int(hour.timestamp()),
            self._outcome_ttl,
            _field_prefix(admission.project_id, admission.key_id),
            refile.value if refile is not None else "",
            len(admission.units),
        ]
        for category, units in admission.units.items():
            keys.append(bucket_key(org, admission.project_id, category))
            keys.append(bucket_key(org, admission.project_id, category, admission.key_id))
            args += [category.value, units]
        hour_added, late = await self._refund(keys=keys, args=args)
        await self._after_outcome_write(org, hour_added=int(hour_added), late=int(late))

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
        """Count units under a non-accepted outcome (accepted units only come from admit)."""
        for value, what in ((org_id, "org_id"), (project_id, "project_id"), (key_id, "key_id")):
            check_id(value, what)
        category, outcome = Category(category), Outcome(outcome)
        if outcome is Outcome.ACCEPTED:
            raise ValueError("accepted units are recorded by admit, never directly")
        check_units(units, "units")
        hour = hour_start(at)
        field = f"{_field_prefix(project_id, key_id)}{category.value}|{outcome.value}"
        hour_added, late = await self._record(
            keys=[sealed_key(org_id), outcome_hours_key(org_id), outcome_hour_key(org_id, hour)],
            args=[hour_member(hour), int(hour.timestamp()), self._outcome_ttl, field, units],
        )
        await self._after_outcome_write(org_id, hour_added=int(hour_added), late=int(late))

    async def period_usage(self, org_id: str, period_id: str) -> dict[Category, int] | None:
        """Units admitted so far in the period, or None if the counters are missing."""
        check_id(org_id, "org_id")
        raw = await self._client.hgetall(period_key(org_id, check_id(period_id, "period_id")))
        if not raw:
            return None
        fields = {_text(name): int(value) for name, value in raw.items()}
        return {c: fields.get(c.value, 0) for c in Category}

    async def seed_period(
        self,
        org_id: str,
        period_id: str,
        used: Mapping[Category, int],
        *,
        period_end: datetime,
    ) -> None:
        """Create the period counters (every category, HSETNX) and expire them after the period."""
        check_id(org_id, "org_id")
        check_id(period_id, "period_id")
        used = {Category(c): check_units(n, f"used {c}", minimum=0) for c, n in used.items()}
        expire_at = as_utc(period_end, "period_end") + self._period_retention
        args: list[str | int] = [int(expire_at.timestamp())]
        for category in Category:
            args += [category.value, used.get(category, 0)]
        await self._seed(keys=[period_key(org_id, period_id)], args=args)

    async def pending_orgs(self) -> list[str]:
        """Orgs that may have outcome hours not yet deleted."""
        return sorted(_text(m) for m in await self._client.smembers(PENDING_ORGS_KEY))

    async def pending_outcomes(
        self, org_id: str, *, now: datetime | None = None
    ) -> list[OutcomeHour]:
        """Every outcome hour of the org still held, oldest first, with cumulative counts."""
        check_id(org_id, "org_id")
        now = datetime.now(UTC) if now is None else as_utc(now, "now")
        hours: list[Any] = await self._client.zrange(
            outcome_hours_key(org_id), 0, -1, withscores=True
        )
        starts = [datetime.fromtimestamp(float(score), UTC) for _, score in hours]
        async with self._client.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(outcome_hour_key(org_id, start))
            contents: list[dict[Any, Any]] = await pipe.execute()
        return [
            _outcome_hour(org_id, start, is_closed(start, now, self.outcome_grace), content)
            for start, content in zip(starts, contents, strict=True)
        ]

    async def delete_hours(
        self, org_id: str, hours: Iterable[datetime], *, now: datetime | None = None
    ) -> list[datetime]:
        """Delete (and seal) the given hours that are closed at `now`; returns those deleted.

        Call it only after the hours' counts are committed to the ledger: an hour that is open
        at `now` is kept whatever the caller asks, since it may still be written.
        """
        check_id(org_id, "org_id")
        now = datetime.now(UTC) if now is None else as_utc(now, "now")
        closed = sorted(
            {h for h in map(hour_start, hours) if is_closed(h, now, self.outcome_grace)}
        )
        if not closed:
            return []
        args: list[str | int] = [self._outcome_ttl]
        for hour in closed:
            args += [hour_member(hour), int(hour.timestamp())]
        remaining = await self._seal(
            keys=[
                outcome_hours_key(org_id),
                sealed_key(org_id),
                *(outcome_hour_key(org_id, h) for h in closed),
            ],
            args=args,
        )
        if int(remaining) == 0:
            await self._forget_org(org_id)
        return closed

    async def discard_org(self, org_id: str) -> int:
        """Delete every key of a deleted org and drop it from the pending index; returns how many.

        A SCAN of the org's own keys (`tg:{org}:*`): period counters, token buckets of its
        projects and keys, outcome hours. Not atomic with in-flight writes: a request admitted
        by a key cached for a few seconds more can re-create a key, which the flush discards
        again (the org is gone) and whose TTL ends it anyway.
        """
        check_id(org_id, "org_id")
        deleted = 0
        batch: list[Any] = []
        async for key in self._client.scan_iter(match=f"tg:{{{org_id}}}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self._client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await self._client.unlink(*batch))
        await self._client.srem(PENDING_ORGS_KEY, org_id)
        return deleted

    async def reindex_pending_orgs(self) -> int:
        """Re-add every org holding outcome hours to the pending index; returns how many.

        Repairs the one gap of the index: a gateway that died between its script and its SADD.
        A SCAN over the keyspace, so run it rarely (e.g. daily from the flush actor).
        """
        orgs = {
            _text(key).split("{", 1)[1].split("}", 1)[0]
            async for key in self._client.scan_iter(match="tg:{*}:out:hours", count=1000)
        }
        if orgs:
            await self._client.sadd(PENDING_ORGS_KEY, *orgs)
        return len(orgs)

    async def _after_outcome_write(self, org_id: str, *, hour_added: int, late: int) -> None:
        if hour_added:
            # The write is already applied: failing the call now would make the caller treat an
            # admitted request as not admitted. A missed index entry is repaired by the next
            # hour's first write or by reindex_pending_orgs().
            try:
                await self._client.sadd(PENDING_ORGS_KEY, org_id)
            except RedisError:
                logger.warning("could not index org %s as pending", org_id, exc_info=True)
        if late:
            self.late_outcome_writes += 1
            logger.warning("outcome write for org %s dropped: its hour was already flushed", org_id)

    async def _forget_org(self, org_id: str) -> None:
        """Drop an org from the pending index, unless a writer added an hour meanwhile.

        A writer adds its hour (in the org's slot) before it adds the org to the index (another
        slot); removing first and re-checking after means no interleaving loses a pending hour.
        """
        await self._client.srem(PENDING_ORGS_KEY, org_id)
        if await self._client.exists(outcome_hours_key(org_id)):
            await self._client.sadd(PENDING_ORGS_KEY, org_id)


def _outcome_hour(
    org_id: str, start: datetime, closed: bool, content: dict[Any, Any]
) -> OutcomeHour:
    fields = {_text(name): value for name, value in content.items()}
    generation = _text(fields.pop(GENERATION, ""))
    counts = {_outcome_key(name): int(value) for name, value in fields.items()}
    return OutcomeHour(org_id, start, closed, counts, generation)


def _outcome_key(field: Any) -> OutcomeKey:
    project_id, key_id, category, outcome = _text(field).split("|")
    return OutcomeKey(project_id, key_id, Category(category), Outcome(outcome))
