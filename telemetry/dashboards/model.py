"""The dashboard model of ARCHITECTURE §14 and the rules msgspec's types cannot say alone."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from infra.errors import AppError, ValidationError
from telemetry.dashboards import limits
from telemetry.search import parse

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Ref = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")]
Text = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00]*$")]
Expr = Annotated[str, msgspec.Meta(min_length=1, max_length=8192, pattern=r"^[^\x00]*$")]
LogsQuery = Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\x00]*$")]
Value = Annotated[str, msgspec.Meta(max_length=500, pattern=r"^[^\x00]*$")]
Duration = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,6}(ms|s|m|h|d|w)$")]
TimeRef = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[^\x00]*$")]
Tag = Annotated[str, msgspec.Meta(max_length=50, pattern=r"^[^\x00]*$")]
Content = Annotated[str, msgspec.Meta(max_length=20_000, pattern=r"^[^\x00]*$")]

PanelType = Literal["timeseries", "stat", "gauge", "table", "text", "logs", "traces"]
VariableKind = Literal["query", "custom", "interval"]
UsageDimension = Literal["project", "category", "outcome"]
METRIC_PANELS: Final = frozenset({"timeseries", "stat", "gauge", "table"})

_VARIABLE = re.compile(r"\$\{[A-Za-z0-9_]+(?::[A-Za-z]+)?\}|\[\[[A-Za-z0-9_]+\]\]|\$[A-Za-z0-9_]+")
_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d|w)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^now(?:-([0-9]{1,6})(s|m|h|d|w|M|y))?(?:/[smhdwMy])?$")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$",
    re.DOTALL,
)


def duration_seconds(text: str) -> float:
    """Seconds of a Prometheus-style duration (`30s`, `5m`, `1h`); ValueError otherwise."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h")
    return int(found.group(1)) * _SECONDS[found.group(2)]


def label_values_query(query: str) -> tuple[str | None, str] | None:
    """(selector or None, label) of a `label_values(...)` query, else None."""
    found = _LABEL_VALUES.match(query)
    return (found.group("match"), found.group("label")) if found else None


def is_time_ref(text: str) -> bool:
    """`now`, `now-6h` (a rounding suffix like `/d` is accepted and ignored) or an ISO instant."""
    if _RELATIVE.match(text):
        return True
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


class Grid(msgspec.Struct, forbid_unknown_fields=True):
    """A panel's place on the 24-column grid (h in grid rows)."""

    x: Annotated[int, msgspec.Meta(ge=0, le=limits.GRID_COLUMNS - 1)] = 0
    y: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    w: Annotated[int, msgspec.Meta(ge=1, le=limits.GRID_COLUMNS)] = 12
    h: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8


class Threshold(msgspec.Struct, forbid_unknown_fields=True):
    """A step: from `value` up (None: the base step) the panel shows `color`."""

    color: Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[#A-Za-z0-9(),. -]+$")]
    value: float | None = None


class TracesQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Filters of a traces panel."""

    service: Value | None = None
    operation: Value | None = None
    status: Literal["unset", "ok", "error"] | None = None
    min_duration_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None


class UsageQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The org's own billed units from Tollgate's ledger, hourly, grouped."""

    group_by: Annotated[list[UsageDimension], msgspec.Meta(max_length=3)] = msgspec.field(
        default_factory=lambda: ["category", "outcome"]
    )
    category: Literal["metrics", "logs", "traces", "spans"] | None = None


class Query(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One query of a panel: exactly one of PromQL, a log query, trace filters, or usage."""

    ref: Ref
    expr: Expr | None = None
    legend: Text | None = None
    logs_query: LogsQuery | None = None
    traces: TracesQuery | None = None
    usage: UsageQuery | None = None

    def kind(self) -> str:
        """Which of the four the query is."""
        given = [
            name
            for name, value in (
                ("expr", self.expr),
                ("logs_query", self.logs_query),
                ("traces", self.traces),
                ("usage", self.usage),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of expr, logs_query, traces, usage")
        return given[0]


class Panel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A panel on the grid."""

    id: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    type: PanelType
    title: Text = ""
    grid: Grid = msgspec.field(default_factory=Grid)
    queries: Annotated[list[Query], msgspec.Meta(max_length=limits.MAX_QUERIES_PER_PANEL)] = (
        msgspec.field(default_factory=list)
    )
    unit: Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[^\x00]*$")] | None = None
    thresholds: Annotated[list[Threshold], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )
    min: float | None = None
    max: float | None = None
    interval: Duration | None = None  # the panel's minimum step
    content: Content | None = None  # text panels (markdown)
    description: Content | None = None


class Variable(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A dashboard variable: label values of the project's metrics, a fixed list, or steps."""

    name: Name
    kind: VariableKind
    label: Text | None = None
    query: Expr | None = None  # query: label_values([selector,] label)
    values: Annotated[list[Value], msgspec.Meta(max_length=limits.MAX_VARIABLE_VALUES)] = (
        msgspec.field(default_factory=list)
    )
    default: Annotated[list[Value], msgspec.Meta(max_length=limits.MAX_VARIABLE_VALUES)] = (
        msgspec.field(default_factory=list)
    )
    multi: bool = False
    include_all: bool = False
    all_value: Value | None = None


class TimeRange(msgspec.Struct, forbid_unknown_fields=True):
    """The default time range, Grafana-style (`now-6h` .. `now`) or ISO instants."""

    from_: TimeRef = msgspec.field(default="now-6h", name="from")
    to: TimeRef = "now"


class DashboardSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A dashboard's content: what every version stores."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    time: TimeRange = msgspec.field(default_factory=TimeRange)
    refresh: Duration | None = None
    variables: Annotated[list[Variable], msgspec.Meta(max_length=limits.MAX_VARIABLES)] = (
        msgspec.field(default_factory=list)
    )
    panels: Annotated[list[Panel], msgspec.Meta(max_length=limits.MAX_PANELS)] = msgspec.field(
        default_factory=list
    )


def _fail(field: str, detail: str) -> ValidationError:
    return ValidationError(f"{field}: {detail}", field=field)


def _check_variable(index: int, variable: Variable) -> None:
    at = f"variables[{index}]"
    if variable.kind == "query":
        if not variable.query or label_values_query(variable.query) is None:
            raise _fail(f"{at}.query", "a query variable needs label_values([selector,] label)")
    elif not variable.values:
        raise _fail(f"{at}.values", f"a {variable.kind} variable needs at least one value")
    if variable.kind == "interval":
        for position, value in enumerate(variable.values):
            try:
                duration_seconds(value)
            except ValueError as exc:
                raise _fail(f"{at}.values[{position}]", str(exc)) from None
    if len(variable.default) > 1 and not variable.multi:
        raise _fail(f"{at}.default", "only a multi variable has several default values")


def _check_logs_query(field: str, text: str) -> None:
    try:  # variables stand for one word each until the data call fills them in
        parse(_VARIABLE.sub("x", text))
    except AppError as exc:
        raise _fail(field, exc.detail) from None


def _check_panel(index: int, panel: Panel) -> None:
    at = f"panels[{index}]"
    if panel.grid.x + panel.grid.w > limits.GRID_COLUMNS:
        raise _fail(f"{at}.grid", f"x + w must be at most {limits.GRID_COLUMNS}")
    if panel.type == "text":
        if panel.queries:
            raise _fail(f"{at}.queries", "a text panel has no queries")
        return
    allowed = {
        "logs": {"logs_query"},
        "traces": {"traces"},
    }.get(panel.type, {"expr", "usage"})
    refs: set[str] = set()
    for position, query in enumerate(panel.queries):
        where = f"{at}.queries[{position}]"
        try:
            kind = query.kind()
        except ValueError as exc:
            raise _fail(where, str(exc)) from None
        if kind not in allowed:
            raise _fail(where, f"a {panel.type} panel takes {' or '.join(sorted(allowed))}")
        if query.logs_query:
            _check_logs_query(f"{where}.logs_query", query.logs_query)
        if query.ref in refs:
            raise _fail(f"{where}.ref", f"ref {query.ref!r} is used twice in the panel")
        refs.add(query.ref)


def validate(spec: DashboardSpec) -> DashboardSpec:
    """The spec if every cross-field rule holds; 422 naming the first field that breaks one."""
    if len(msgspec.json.encode(spec)) > limits.MAX_SPEC_BYTES:
        raise _fail("body", f"a dashboard is at most {limits.MAX_SPEC_BYTES // 1024} KiB of JSON")
    if not is_time_ref(spec.time.from_):
        raise _fail("time.from", "use now, now-<n><unit> or an ISO instant with a timezone")
    if not is_time_ref(spec.time.to):
        raise _fail("time.to", "use now, now-<n><unit> or an ISO instant with a timezone")
    names: set[str] = set()
    for index, variable in enumerate(spec.variables):
        if variable.name in names or variable.name.startswith("__"):
            raise _fail(f"variables[{index}].name", f"{variable.name!r} is taken or reserved")
        names.add(variable.name)
        _check_variable(index, variable)
    ids: set[int] = set()
    for index, panel in enumerate(spec.panels):
        if panel.id in ids:
            raise _fail(f"panels[{index}].id", f"panel id {panel.id} is used twice")
        ids.add(panel.id)
        _check_panel(index, panel)
    return spec


def spec_from_builtins(document: Any, field: str = "body") -> DashboardSpec:
    """A validated spec from decoded JSON; 422 naming the field msgspec or a rule refused."""
    try:
        spec = msgspec.convert(document, DashboardSpec)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None
    return validate(spec)


def to_builtins(spec: DashboardSpec) -> dict[str, Any]:
    """The spec as JSON-ready builtins (what is stored)."""
    document: dict[str, Any] = msgspec.to_builtins(spec)
    return document
