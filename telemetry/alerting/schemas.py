"""Request and response bodies of alert rules and incidents (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
LabelMap = Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=1000)]], msgspec.Meta()]
Duration = str | int | float
Ids = Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=20)]


class Threshold(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A log rule's condition on the count of matching records over a window."""

    op: str = ">"
    value: float = 0
    window: Duration = "5m"


class SeedCondition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Seed 000's condition: `{operator, threshold, duration}` (duration in seconds)."""

    operator: str = "gt"
    threshold: float = 0
    duration: Duration = 0


class RuleBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename={"for_": "for"}):
    """`POST …/alert-rules` (§12), also accepting seed 000's and seed 001's field names.

    On PATCH every field is optional and only the fields sent change.
    """

    name: Name | None = None
    kind: str | None = None
    expr: Text | None = None
    threshold: Threshold | None = None
    for_: Duration | None = None
    interval: Duration | None = None
    severity: str | None = None
    labels: LabelMap | None = None
    annotations: LabelMap | None = None
    channels: Ids | None = None
    escalation_policy: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    no_data: str | None = None
    enabled: bool | None = None
    # seed 001
    expression: Text | None = None
    # seed 000
    alert_type: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    metric_name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    service_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    condition: SeedCondition | None = None
    notification_channels: Ids | None = None


class RuleOut(msgspec.Struct, kw_only=True, rename={"for_": "for"}):
    """An alert rule with its evaluation state."""

    id: str
    project_id: str
    name: str
    kind: str
    expr: str
    threshold: dict[str, Any] | None
    for_: str
    interval: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    channels: list[str]
    escalation_policy: str | None
    no_data: str
    enabled: bool
    disabled_reason: str | None
    state: str
    last_evaluation: datetime | None
    last_error: str | None
    generated_by: str | None
    created_at: datetime
    updated_at: datetime


class IncidentEventOut(msgspec.Struct, kw_only=True):
    """One timeline entry."""

    id: str
    kind: str
    detail: dict[str, Any]
    at: datetime


class IncidentOut(msgspec.Struct, kw_only=True):
    """An incident; `timeline` only on the single-incident read."""

    id: str
    project_id: str
    rule_id: str
    fingerprint: str
    status: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    started_at: datetime
    last_fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    timeline: list[IncidentEventOut] | None = None


class IncidentAction(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Optional note on an acknowledge or resolve."""

    comment: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
