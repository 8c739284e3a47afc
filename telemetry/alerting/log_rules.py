"""Log rules: the count of matching records over a window against a threshold, on a schedule.

The same state machine as vmalert's: inactive → pending (while the condition has held for less
than `for`) → firing → resolved. An evaluation that fails leaves the state alone and shows the
reason on the rule (`last_error`). Evaluating a rule whose interval has not passed does nothing,
so a duplicated job is harmless.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing.subscriptions import current_tier
from infra.logging import get_logger
from telemetry.alerting import incidents
from telemetry.alerting.repository import RuleRepository
from telemetry.search import parse
from telemetry.stores import LogStore, Scope
from tenancy.context import TenantContext

log = get_logger(__name__)
COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


async def count_matching(
    store: LogStore, scope: Scope, expr: str, window_seconds: int, now: datetime
) -> int:
    """Records of the scope matching the query in the last `window_seconds`."""
    start = now - timedelta(seconds=window_seconds)
    buckets = await store.log_stats(scope, start, now, window_seconds, parse(expr))
    return sum(bucket.count for bucket in buckets)


async def evaluate(
    session: AsyncSession,
    context: TenantContext,
    store: LogStore,
    rule_id: str,
    now: datetime,
    *,
    force: bool = False,
) -> str | None:
    """Evaluate one log rule if it is due; returns its state afterwards (None: not evaluated)."""
    rule = await RuleRepository(session, context).by_id(rule_id)
    if rule is None or rule.kind != "log" or not rule.enabled or rule.threshold is None:
        return None
    due = rule.last_evaluation is None or rule.last_evaluation + timedelta(
        seconds=rule.interval_seconds
    ) <= now + timedelta(milliseconds=500)
    if not (due or force):
        return None
    tier = await current_tier(session, context)
    threshold = rule.threshold
    rule.last_evaluation = now
    try:
        count = await count_matching(
            store,
            Scope(context.org_id, rule.project_id, tier),
            rule.expr,
            int(threshold["window_seconds"]),
            now,
        )
    except Exception as exc:  # the store's failure is shown on the rule, never raised
        log.warning("log rule evaluation failed", extra={"rule_id": rule.id, "error": str(exc)})
        rule.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        await session.flush()
        return rule.state
    rule.last_error = None
    holds = COMPARE[str(threshold["op"])](float(count), float(threshold["value"]))
    labels = {**rule.labels, "severity": rule.severity}
    if holds:
        rule.pending_since = rule.pending_since or now
        if now - rule.pending_since >= timedelta(seconds=rule.for_seconds):
            rule.state = "firing"
            await incidents.fire(
                session, context, rule, labels, dict(rule.annotations), float(count), now
            )
        else:
            rule.state = "pending"
    else:
        if rule.state == "firing":
            await incidents.resolve_series(session, context, rule, labels, now, "recovered")
        rule.state, rule.pending_since = "inactive", None
    await session.flush()
    return rule.state
