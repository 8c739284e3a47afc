"""Alert rules: create, read, change and delete them, within the plan's limit.

A metric rule's PromQL is checked by the tier's VictoriaMetrics before it is saved (an instant
query pinned to the project with `extra_label` at an instant long before any data, so it costs
a parse and an empty index lookup); a log rule's query by our own parser. Changes to metric rules
queue the re-rendering of the project's vmalert file, which leaves after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Final

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from billing.limits import alert_rule_limit
from billing.subscriptions import current_tier
from infra import jobs
from infra import victoriametrics as vm
from infra.cursors import id_cursor
from infra.errors import NotFoundError, UnavailableError
from infra.ids import looks_like_id, new_id
from infra.settings import Settings
from telemetry.alerting import notify
from telemetry.alerting.errors import InvalidRuleError, PlanLimitError
from telemetry.alerting.models import AlertRule
from telemetry.alerting.repository import RuleRepository
from telemetry.alerting.rule_body import RuleSpec, apply, channels_field, new_spec
from telemetry.alerting.schemas import RuleBody
from telemetry.search import QuerySyntaxError, parse
from tenancy import audit
from tenancy.context import TenantContext
from tenancy.projects import get_project

RENDER_ACTOR: Final = "alerting.render_project"
PLAN_LIMIT: Final = "plan_limit"
# An instant long before any stored sample: the check parses and looks up nothing.
CHECK_INSTANT: Final = "946684800"  # 2000-01-01T00:00:00Z


async def check_promql(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    expr: str,
) -> None:
    """400 naming `expr` when VictoriaMetrics cannot parse it; 503 when it does not answer."""
    tier = await current_tier(session, context)
    form = [("query", expr), ("time", CHECK_INSTANT), *vm.tenant_labels(context.org_id, project_id)]
    try:
        answer = await vm.query(http, settings.vm_read_url(tier), "query", form)
    except vm.StoreUnavailableError:
        raise UnavailableError(
            "The metrics store did not answer the PromQL check; retry",
            headers={"Retry-After": "2"},
        ) from None
    if answer.status_code >= 500:
        raise UnavailableError(
            f"The metrics store answered {answer.status_code} to the PromQL check; retry",
            headers={"Retry-After": "2"},
        )
    if answer.status_code >= 400:
        try:
            reason = str(msgspec.json.decode(answer.content).get("error", ""))
        except (msgspec.DecodeError, AttributeError):
            reason = answer.text
        raise InvalidRuleError(f"not valid PromQL/MetricsQL: {reason.strip()[:400]}", "expr")


def check_log_query(expr: str) -> None:
    """400 naming `expr` when our query language cannot parse it."""
    try:
        parse(expr)
    except QuerySyntaxError as exc:
        raise InvalidRuleError(f"not a valid log query: {exc}", "expr") from None


async def _check(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    spec: RuleSpec,
    field: str = "channels",
) -> RuleSpec:
    """`spec` checked, with channel type names mapped to the org's channel ids."""
    if spec.kind == "metric":
        await check_promql(http, settings, session, context, project_id, spec.expr)
    else:
        check_log_query(spec.expr)
    validate = getattr(notify, "validate_targets", None)  # the notification side's check
    if validate is not None:
        ids = await validate(session, context, spec.channels, spec.escalation_policy, field)
        spec = replace(spec, channels=list(ids))
    return spec


async def _check_limit(session: AsyncSession, context: TenantContext, *, enabling: bool) -> None:
    """403 plan_limit when one more (enabled) rule would pass the org's limit."""
    repo = RuleRepository(session, context)
    await repo.lock_org()
    allowed = await alert_rule_limit(session, context)
    if allowed.limit is None:
        return
    if await repo.counted(enabled_only=enabling) >= allowed.limit:
        raise PlanLimitError(allowed.limit, allowed.plan)


def _queue_render(session: AsyncSession, rule: AlertRule) -> None:
    if rule.kind == "metric":
        jobs.enqueue(session, RENDER_ACTOR, rule.org_id, rule.project_id)


def _fill(rule: AlertRule, spec: RuleSpec) -> None:
    for name, value in asdict(spec).items():
        setattr(rule, name, value)


async def _rule(
    session: AsyncSession, context: TenantContext, project_id: str, rule_id: str
) -> AlertRule:
    if not looks_like_id(rule_id, "alr"):
        raise NotFoundError("Alert rule not found")
    found = await RuleRepository(session, context).get(project_id, rule_id, for_update=True)
    if found is None:
        raise NotFoundError("Alert rule not found")
    return found


async def create_rule(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    body: RuleBody,
    http: httpx.AsyncClient,
    settings: Settings,
    *,
    generated_by: str | None = None,
) -> AlertRule:
    """A new rule of the project, checked, within the plan's limit; audited."""
    await get_project(session, context, project_id)
    spec = new_spec(body)
    if generated_by is None:
        await _check_limit(session, context, enabling=False)
    spec = await _check(http, settings, session, context, project_id, spec, channels_field(body))
    now = datetime.now(UTC)
    rule = AlertRule(
        id=new_id("alr"),
        org_id=context.org_id,
        project_id=project_id,
        state="inactive",
        generated_by=generated_by,
        created_by=context.actor.id,
        created_at=now,
        updated_at=now,
    )
    _fill(rule, spec)
    await RuleRepository(session, context).add(rule)
    await audit.record(
        session, context, "alert_rule.created", "alert_rule", rule.id, project_id=project_id
    )
    _queue_render(session, rule)
    return rule


async def get_rule(
    session: AsyncSession, context: TenantContext, project_id: str, rule_id: str
) -> AlertRule:
    """One rule; 404 when it is not this project's."""
    if not looks_like_id(rule_id, "alr"):
        raise NotFoundError("Alert rule not found")
    found = await RuleRepository(session, context).get(project_id, rule_id)
    if found is None:
        raise NotFoundError("Alert rule not found")
    return found


async def list_rules(
    session: AsyncSession, context: TenantContext, project_id: str, cursor: str | None, limit: int
) -> Sequence[AlertRule]:
    """A page of the project's rules, oldest first."""
    await get_project(session, context, project_id)
    return await RuleRepository(session, context).page(project_id, id_cursor(cursor, "alr"), limit)


def _spec_of(rule: AlertRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name,
        kind=rule.kind,
        expr=rule.expr,
        threshold=rule.threshold,
        for_seconds=rule.for_seconds,
        interval_seconds=rule.interval_seconds,
        severity=rule.severity,
        labels=dict(rule.labels),
        annotations=dict(rule.annotations),
        channels=list(rule.channels),
        escalation_policy=rule.escalation_policy,
        no_data=rule.no_data,
        enabled=rule.enabled,
    )


async def update_rule(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    rule_id: str,
    body: RuleBody,
    http: httpx.AsyncClient,
    settings: Settings,
) -> AlertRule:
    """Change the fields the body sends; re-enabling counts against the limit; audited."""
    rule = await _rule(session, context, project_id, rule_id)
    before = _spec_of(rule)
    spec = apply(before, body)
    if spec.enabled and not rule.enabled and rule.generated_by is None:
        await _check_limit(session, context, enabling=True)
    if (spec.kind, spec.expr, spec.channels, spec.escalation_policy) != (
        before.kind,
        before.expr,
        before.channels,
        before.escalation_policy,
    ):
        spec = await _check(
            http, settings, session, context, project_id, spec, channels_field(body)
        )
    was_metric = rule.kind == "metric"
    _fill(rule, spec)
    if spec.enabled:
        rule.disabled_reason = None
    if not spec.enabled and before.enabled:
        rule.disabled_reason = "user"
    if spec.kind != before.kind or spec.expr != before.expr:
        rule.state, rule.pending_since, rule.last_error = "inactive", None, None
    rule.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session, context, "alert_rule.updated", "alert_rule", rule.id, project_id=project_id
    )
    if was_metric and rule.kind != "metric":
        jobs.enqueue(session, RENDER_ACTOR, rule.org_id, rule.project_id)
    _queue_render(session, rule)
    return rule


async def delete_rule(
    session: AsyncSession, context: TenantContext, project_id: str, rule_id: str
) -> None:
    """Delete a rule and its incidents; audited."""
    rule = await _rule(session, context, project_id, rule_id)
    _queue_render(session, rule)
    await RuleRepository(session, context).delete(rule)
    await audit.record(
        session, context, "alert_rule.deleted", "alert_rule", rule_id, project_id=project_id
    )


async def enforce_limit(session: AsyncSession, context: TenantContext) -> tuple[int, int]:
    """Keep the oldest enabled rules within the limit: disable the newest beyond it
    (`plan_limit`, never deleted) and re-enable rules it disabled once there is room again.
    Returns (disabled, re-enabled); idempotent."""
    repo = RuleRepository(session, context)
    await repo.lock_org()
    allowed = await alert_rule_limit(session, context)
    rules = await repo.counted_rules()
    room = len(rules) if allowed.limit is None else allowed.limit
    enabled = [r for r in rules if r.enabled]
    disabled = reenabled = 0
    now = datetime.now(UTC)
    for rule in enabled[room:]:
        rule.enabled, rule.disabled_reason, rule.updated_at = False, PLAN_LIMIT, now
        disabled += 1
    spare = room - min(len(enabled), room)
    for rule in [r for r in rules if not r.enabled and r.disabled_reason == PLAN_LIMIT]:
        if rule in enabled[room:] or spare <= 0:
            continue
        rule.enabled, rule.disabled_reason, rule.updated_at = True, None, now
        spare -= 1
        reenabled += 1
    await session.flush()
    if disabled or reenabled:
        await audit.record(
            session,
            context,
            "alert_rules.plan_limit_applied",
            "org",
            context.org_id,
            limit=allowed.limit,
            plan=allowed.plan,
            disabled=disabled,
            reenabled=reenabled,
        )
    for project_id in sorted({r.project_id for r in rules if r.kind == "metric"}):
        jobs.enqueue(session, RENDER_ACTOR, context.org_id, project_id)
    return disabled, reenabled
