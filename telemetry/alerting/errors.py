"""Alerting's domain errors."""

from __future__ import annotations

from infra.errors import AppError


class InvalidRuleError(AppError):
    """A rule body that cannot be evaluated (bad PromQL, bad log query, bad duration…)."""

    code = "invalid_rule"
    title = "Invalid alert rule"

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class PlanLimitError(AppError):
    """One more alert rule than the org's plan allows."""

    status_code = 403
    code = "plan_limit"
    title = "Plan limit reached"

    def __init__(self, limit: int, plan: str) -> None:
        super().__init__(
            f"The {plan} plan allows {limit} alert rules per organization; delete or disable "
            "one, or upgrade",
            limit=limit,
            plan=plan,
        )


class IncidentStateError(AppError):
    """The incident's status does not allow this (acknowledging a resolved incident)."""

    status_code = 409
    code = "incident_state"
    title = "Incident state conflict"


class MalformedAlertsError(AppError):
    """A receiver body that is not an Alertmanager v2 alert list."""

    code = "malformed_alerts"
    title = "Malformed alerts"
