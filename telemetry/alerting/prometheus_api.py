"""A project's rules and firing alerts in Prometheus' HTTP API shape (`/api/v1/rules|alerts`),
so Grafana's Prometheus data source shows Tollgate's alert state."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.alerting.models import AlertIncident, AlertRule
from telemetry.alerting.repository import IncidentRepository, RuleRepository
from tenancy.context import TenantContext


def _time(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else "0001-01-01T00:00:00Z"


def _alert(rule: AlertRule, incident: AlertIncident) -> dict[str, Any]:
    labels = {k: v for k, v in incident.labels.items() if k != "tollgate_rule_id"}
    return {
        "labels": {**labels, "alertname": rule.name, "rule_id": rule.id},
        "annotations": dict(incident.annotations),
        "state": "firing",
        "activeAt": _time(incident.started_at),
        "value": repr(incident.value) if incident.value is not None else "",
        "incident_id": incident.id,
        "status": incident.status,
    }


async def rules_answer(
    session: AsyncSession, context: TenantContext, project_id: str
) -> dict[str, Any]:
    """`/api/v1/rules`: one group per rule interval, with each rule's firing alerts."""
    found = await RuleRepository(session, context).of_project(project_id)
    firing = await IncidentRepository(session, context).firing(project_id)
    alerts: dict[str, list[AlertIncident]] = defaultdict(list)
    for incident in firing:
        alerts[incident.rule_id].append(incident)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    intervals: dict[str, int] = {}
    for rule in found:
        name = f"{project_id}/{rule.kind}/{rule.interval_seconds}s"
        intervals[name] = rule.interval_seconds
        groups[name].append(
            {
                "type": "alerting",
                "id": rule.id,
                "name": rule.name,
                "query": rule.expr,
                "duration": rule.for_seconds,
                "labels": {**rule.labels, "severity": rule.severity},
                "annotations": dict(rule.annotations),
                "alerts": [_alert(rule, i) for i in alerts.get(rule.id, [])],
                "health": "err" if rule.last_error else ("ok" if rule.enabled else "unknown"),
                "lastError": rule.last_error or "",
                "evaluationTime": 0,
                "lastEvaluation": _time(rule.last_evaluation),
                "state": rule.state if rule.enabled else "inactive",
            }
        )
    return {
        "status": "success",
        "data": {
            "groups": [
                {
                    "name": name,
                    "file": project_id,
                    "interval": intervals[name],
                    "rules": members,
                    "evaluationTime": 0,
                    "lastEvaluation": _time(
                        max((r.last_evaluation for r in found if r.last_evaluation), default=None)
                    ),
                }
                for name, members in sorted(groups.items())
            ]
        },
    }


async def alerts_answer(
    session: AsyncSession, context: TenantContext, project_id: str
) -> dict[str, Any]:
    """`/api/v1/alerts`: the project's open incidents as firing alerts."""
    found = {r.id: r for r in await RuleRepository(session, context).of_project(project_id)}
    firing = await IncidentRepository(session, context).firing(project_id)
    return {
        "status": "success",
        "data": {"alerts": [_alert(found[i.rule_id], i) for i in firing if i.rule_id in found]},
    }
