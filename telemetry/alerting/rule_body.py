"""A rule body as a client sends it (§12, seed 000 or seed 001) into one normalized shape.

Only what needs no I/O is checked here; the PromQL itself is checked by VictoriaMetrics and the
log query by our parser (see `rules.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Final

from telemetry.alerting.errors import InvalidRuleError
from telemetry.alerting.models import NO_DATA, RULE_KINDS, SEVERITIES
from telemetry.alerting.schemas import RuleBody, SeedCondition

DURATION: Final = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
UNIT_SECONDS: Final = (604_800, 86_400, 3_600, 60, 1)
LABEL_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")
METRIC_NAME: Final = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")
# Labels Tollgate sets itself: a rule may not forge the tenant pinning or the rule id.
RESERVED_LABELS: Final = frozenset({"tenant", "project", "alertname", "tollgate_rule_id"})
# The only templates annotations may hold (vmalert would refuse a whole shard's reload on a
# broken one, and arbitrary Go templates can query the datasource).
TEMPLATE: Final = re.compile(r"\{\{(.*?)\}\}", re.S)
ALLOWED_TEMPLATE: Final = re.compile(
    r"^\s*(?:humanize\s+)?\$(?:value|labels(?:\.[a-zA-Z_][a-zA-Z0-9_]*)?)\s*$"
)
THRESHOLD_OPS: Final = (">", ">=", "<", "<=", "==", "!=")
SEED_OPERATORS: Final = {
    "gt": ">",
    "gte": ">=",
    "ge": ">=",
    "lt": "<",
    "lte": "<=",
    "le": "<=",
    "eq": "==",
    "ne": "!=",
    "neq": "!=",
    **{op: op for op in THRESHOLD_OPS},
}
# Seed 000's alert types over a counter mean its per-second rate; anything else is the value.
RATE_ALERT_TYPES: Final = frozenset({"error_rate", "rate", "request_rate", "throughput"})
MAX_FOR_SECONDS: Final = 7 * 86_400
MIN_INTERVAL_SECONDS: Final = 1
MAX_INTERVAL_SECONDS: Final = 86_400
MAX_WINDOW_SECONDS: Final = 86_400
MAX_LABELS: Final = 30
DEFAULT_INTERVAL_SECONDS: Final = 60


@dataclass(frozen=True)
class RuleSpec:
    """A rule as stored: every field decided, durations in seconds."""

    name: str
    kind: str
    expr: str
    threshold: dict[str, Any] | None = None
    for_seconds: int = 0
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    escalation_policy: str | None = None
    no_data: str = "ok"
    enabled: bool = True


def seconds(value: str | float, name: str, *, lowest: int, highest: int) -> int:
    """A duration (`"5m"`, `"1h30m"`, or a number of seconds) in whole seconds, within bounds."""
    if isinstance(value, bool):
        raise InvalidRuleError("a duration like 30s, 5m or 1h", name)
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")) or value != int(value):
            raise InvalidRuleError("a whole number of seconds", name)
        total = int(value)
    else:
        match = DURATION.match(value.strip())
        if not match or not value.strip():
            raise InvalidRuleError("a duration like 30s, 5m or 1h", name)
        total = sum(
            int(n) * unit for n, unit in zip(match.groups(), UNIT_SECONDS, strict=True) if n
        )
    if not lowest <= total <= highest:
        raise InvalidRuleError(f"between {lowest}s and {highest}s", name)
    return total


def duration_text(total: int) -> str:
    """Seconds as the shortest Prometheus duration (`300` -> `5m`)."""
    if total == 0:
        return "0s"
    parts = []
    for unit, suffix in zip(UNIT_SECONDS, "wdhms", strict=True):
        count, total = divmod(total, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise InvalidRuleError(f"one of {', '.join(allowed)}", name)
    return value


def _label_map(values: dict[str, str], name: str, *, templates: bool) -> dict[str, str]:
    if len(values) > MAX_LABELS:
        raise InvalidRuleError(f"at most {MAX_LABELS} entries", name)
    for key, value in values.items():
        if not LABEL_NAME.match(key):
            raise InvalidRuleError(f"{key!r} is not a label name", name)
        if name == "labels" and key in RESERVED_LABELS:
            raise InvalidRuleError(f"{key!r} is set by Tollgate", name)
        if "\x00" in value:
            raise InvalidRuleError("values may not contain NUL", name)
        found = TEMPLATE.findall(value)
        if found and not templates:
            raise InvalidRuleError("label values are literal (no {{ }} templates)", name)
        rest = TEMPLATE.sub("", value)
        if any(not ALLOWED_TEMPLATE.match(t) for t in found) or "{{" in rest or "}}" in rest:
            raise InvalidRuleError(
                "templates may only be {{ $value }}, {{ humanize $value }} or {{ $labels.name }}",
                f"{name}.{key}",
            )
    return dict(values)


def _no_placeholders(spec: RuleSpec) -> None:
    """vmalert substitutes `%{NAME}` with its own environment in rule files: never let one in."""
    texts = {"name": spec.name, "expr": spec.expr}
    texts |= {f"labels.{k}": f"{k}{v}" for k, v in spec.labels.items()}
    texts |= {f"annotations.{k}": f"{k}{v}" for k, v in spec.annotations.items()}
    for name, value in texts.items():
        if "%{" in value:
            raise InvalidRuleError("may not contain %{", name)


def _seed_expr(body: RuleBody) -> tuple[str, SeedCondition]:
    """Seed 000's `metric_name` + `condition` as PromQL (`service_id` is the `service` label)."""
    metric = body.metric_name or ""
    if not METRIC_NAME.match(metric):
        raise InvalidRuleError("a metric name like http_errors_total", "metric_name")
    condition = body.condition or SeedCondition()
    op = SEED_OPERATORS.get(condition.operator.strip().lower())
    if op is None:
        raise InvalidRuleError("one of gt, gte, lt, lte, eq, ne", "condition.operator")
    selector = metric
    if body.service_id:
        escaped = body.service_id.replace("\\", "\\\\").replace('"', '\\"')
        selector = f'{metric}{{service="{escaped}"}}'
    if (body.alert_type or "").lower() in RATE_ALERT_TYPES:
        selector = f"rate({selector}[5m])"
    if condition.threshold != condition.threshold or abs(condition.threshold) == float("inf"):
        raise InvalidRuleError("a finite number", "condition.threshold")
    return f"{selector} {op} {condition.threshold:g}", condition


def _threshold(threshold: Any) -> dict[str, Any]:
    op = _one_of(threshold.op, THRESHOLD_OPS, "threshold.op")
    value = float(threshold.value)
    if value != value or abs(value) == float("inf"):
        raise InvalidRuleError("a finite number", "threshold.value")
    window = seconds(threshold.window, "threshold.window", lowest=1, highest=MAX_WINDOW_SECONDS)
    return {"op": op, "value": value, "window_seconds": window}


def new_spec(body: RuleBody) -> RuleSpec:
    """The spec of a new rule; 400 naming the field that is missing or wrong."""
    name = body.name
    if not name or not name.strip():
        raise InvalidRuleError("required", "name")
    kind = body.kind or "metric"
    if body.expr is None and body.expression is None and body.metric_name is None:
        raise InvalidRuleError(
            "required (PromQL for metric rules, a log query for log rules)", "expr"
        )
    spec = RuleSpec(name=name.strip(), kind=_one_of(kind, RULE_KINDS, "kind"), expr="")
    return apply(spec, body)


def channels_field(body: RuleBody) -> str:
    """The body's name for its channels (seed 000 says `notification_channels`)."""
    if body.channels is None and body.notification_channels is not None:
        return "notification_channels"
    return "channels"


def apply(spec: RuleSpec, body: RuleBody) -> RuleSpec:
    """`spec` with every field the body sends changed (the PATCH semantics)."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        if not body.name.strip():
            raise InvalidRuleError("may not be empty", "name")
        changes["name"] = body.name.strip()
    if body.kind is not None:
        changes["kind"] = _one_of(body.kind, RULE_KINDS, "kind")
    expr = body.expr if body.expr is not None else body.expression
    for_value = body.for_
    if body.metric_name is not None or body.condition is not None:
        expr, condition = _seed_expr(body)
        changes["kind"] = "metric"
        if for_value is None:
            for_value = condition.duration
    if expr is not None:
        if not expr.strip():
            raise InvalidRuleError("may not be empty", "expr")
        changes["expr"] = expr.strip()
    if body.threshold is not None:
        changes["threshold"] = _threshold(body.threshold)
    if for_value is not None:
        changes["for_seconds"] = seconds(for_value, "for", lowest=0, highest=MAX_FOR_SECONDS)
    if body.interval is not None:
        changes["interval_seconds"] = seconds(
            body.interval, "interval", lowest=MIN_INTERVAL_SECONDS, highest=MAX_INTERVAL_SECONDS
        )
    if body.severity is not None:
        changes["severity"] = _one_of(body.severity.lower(), SEVERITIES, "severity")
    if body.labels is not None:
        changes["labels"] = _label_map(body.labels, "labels", templates=False)
    if body.annotations is not None:
        changes["annotations"] = _label_map(body.annotations, "annotations", templates=True)
    channels = body.channels if body.channels is not None else body.notification_channels
    if channels is not None:
        changes["channels"] = list(dict.fromkeys(channels))
    if body.escalation_policy is not None:
        changes["escalation_policy"] = body.escalation_policy or None
    if body.no_data is not None:
        changes["no_data"] = _one_of(body.no_data, NO_DATA, "no_data")
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    result = replace(spec, **changes)
    _no_placeholders(result)
    if result.kind == "log" and result.threshold is None:
        raise InvalidRuleError("required for log rules: {op, value, window}", "threshold")
    if result.kind == "metric" and result.threshold is not None:
        result = replace(result, threshold=None)  # a metric rule's threshold is in its PromQL
    return result
