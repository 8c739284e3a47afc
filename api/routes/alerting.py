"""Alert rules and incidents of a project (§12)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import Ctx, project_permission
from api.deps import AppResources, DbSession
from telemetry.alerting import incidents, rules
from telemetry.alerting.models import AlertIncident, AlertRule, IncidentEvent
from telemetry.alerting.rule_body import duration_text
from telemetry.alerting.schemas import (
    IncidentAction,
    IncidentEventOut,
    IncidentOut,
    RuleBody,
    RuleOut,
)
from tenancy.roles import Permission
from tenancy.schemas import Page

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
READ = {"ctx": project_permission(Permission.ALERTS_READ)}
MANAGE = {"ctx": project_permission(Permission.ALERT_RULES_MANAGE)}


def rule_out(rule: AlertRule) -> RuleOut:
    """A rule as the API shows it (durations as Prometheus durations)."""
    threshold = None
    if rule.threshold is not None:
        window = int(rule.threshold.get("window_seconds", 0))
        threshold = {**rule.threshold, "window": duration_text(window)}
    return RuleOut(
        id=rule.id,
        project_id=rule.project_id,
        name=rule.name,
        kind=rule.kind,
        expr=rule.expr,
        threshold=threshold,
        for_=duration_text(rule.for_seconds),
        interval=duration_text(rule.interval_seconds),
        severity=rule.severity,
        labels=dict(rule.labels),
        annotations=dict(rule.annotations),
        channels=list(rule.channels),
        escalation_policy=rule.escalation_policy,
        no_data=rule.no_data,
        enabled=rule.enabled,
        disabled_reason=rule.disabled_reason,
        state=rule.state,
        last_evaluation=rule.last_evaluation,
        last_error=rule.last_error,
        generated_by=rule.generated_by,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def incident_out(
    incident: AlertIncident, timeline: Sequence[IncidentEvent] | None = None
) -> IncidentOut:
    """An incident as the API shows it, with its timeline on the single read."""
    return IncidentOut(
        id=incident.id,
        project_id=incident.project_id,
        rule_id=incident.rule_id,
        fingerprint=incident.fingerprint,
        status=incident.status,
        severity=incident.severity,
        labels=dict(incident.labels),
        annotations=dict(incident.annotations),
        value=incident.value,
        started_at=incident.started_at,
        last_fired_at=incident.last_fired_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        timeline=(
            [
                IncidentEventOut(id=e.id, kind=e.kind, detail=dict(e.detail), at=e.at)
                for e in timeline
            ]
            if timeline is not None
            else None
        ),
    )


class AlertRuleController(Controller):
    """A project's alert rules."""

    path = "/v1/projects/{project:str}/alert-rules"
    tags = ["alerting"]

    @get("/", operation_id="list_alert_rules", dependencies=READ)
    async def list_rules(
        self,
        project: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[RuleOut]:
        """The project's rules with their evaluation state, oldest first."""
        found = await rules.list_rules(db_session, ctx, project, cursor, limit)
        items = [rule_out(r) for r in found]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post("/", operation_id="create_alert_rule", status_code=HTTP_201_CREATED, dependencies=MANAGE)
    async def create_rule(
        self,
        project: FromPath[str],
        data: JSONBody[RuleBody],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> RuleOut:
        """A new rule (§12 body, or seed 000's / seed 001's); 403 plan_limit past the plan."""
        rule = await rules.create_rule(
            db_session, ctx, project, data, resources.http, resources.settings
        )
        return rule_out(rule)

    @get("/{rule_id:str}", operation_id="get_alert_rule", dependencies=READ)
    async def get_rule(
        self, project: FromPath[str], rule_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> RuleOut:
        """One rule with its state, last evaluation and last error."""
        return rule_out(await rules.get_rule(db_session, ctx, project, rule_id))

    @patch("/{rule_id:str}", operation_id="update_alert_rule", dependencies=MANAGE)
    async def update_rule(
        self,
        project: FromPath[str],
        rule_id: FromPath[str],
        data: JSONBody[RuleBody],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> RuleOut:
        """Change the fields sent; re-enabling counts against the plan's limit."""
        rule = await rules.update_rule(
            db_session, ctx, project, rule_id, data, resources.http, resources.settings
        )
        return rule_out(rule)

    @delete(
        "/{rule_id:str}",
        operation_id="delete_alert_rule",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=MANAGE,
    )
    async def delete_rule(
        self, project: FromPath[str], rule_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Delete a rule and its incidents."""
        await rules.delete_rule(db_session, ctx, project, rule_id)


class IncidentController(Controller):
    """A project's incidents and their timelines."""

    path = "/v1/projects/{project:str}/incidents"
    tags = ["alerting"]

    @get("/", operation_id="list_incidents", dependencies=READ)
    async def list_incidents(
        self,
        project: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[IncidentOut]:
        """Incidents, newest first, optionally of one status."""
        found = await incidents.list_incidents(db_session, ctx, project, status, cursor, limit)
        items = [incident_out(i) for i in found]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @get("/{incident_id:str}", operation_id="get_incident", dependencies=READ)
    async def get_incident(
        self, project: FromPath[str], incident_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> IncidentOut:
        """One incident with its timeline (fired, notified, escalated, acknowledged…)."""
        incident, timeline = await incidents.get_incident(db_session, ctx, project, incident_id)
        return incident_out(incident, timeline)

    @post(
        "/{incident_id:str}/acknowledge",
        operation_id="acknowledge_incident",
        status_code=HTTP_200_OK,
        dependencies=MANAGE,
    )
    async def acknowledge(
        self,
        project: FromPath[str],
        incident_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        data: JSONBody[IncidentAction | None] = None,
    ) -> IncidentOut:
        """Acknowledge: escalation stops; 409 when already resolved."""
        comment = data.comment if data else None
        incident = await incidents.acknowledge(db_session, ctx, project, incident_id, comment)
        return incident_out(incident)

    @post(
        "/{incident_id:str}/resolve",
        operation_id="resolve_incident",
        status_code=HTTP_200_OK,
        dependencies=MANAGE,
    )
    async def resolve(
        self,
        project: FromPath[str],
        incident_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        data: JSONBody[IncidentAction | None] = None,
    ) -> IncidentOut:
        """Resolve by hand (a series that still fires reopens it within 5 minutes)."""
        comment = data.comment if data else None
        incident = await incidents.resolve(db_session, ctx, project, incident_id, comment)
        return incident_out(incident)
