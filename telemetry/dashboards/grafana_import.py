"""Grafana dashboard JSON in: the common subset mapped onto the model, the rest reported.

Read: the classic model (`panels` with `gridPos`, rows flattened, collapsed rows' nested panels;
schemaVersion < 16 `rows` with `span`), `templating.list` (query `label_values`, custom, interval,
constant, textbox; datasource variables resolve to the project's store), `__inputs` and every
datasource reference (`${DS_*}`, `$datasource`, `{type, uid}`): Prometheus ones map to the
project's metrics store, Loki ones to its log store. A target carrying a `tollgate` object (what
our export writes) is read from it, so export then import keeps every query exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from infra.errors import ValidationError
from telemetry.dashboards import limits
from telemetry.dashboards.grafana_common import (
    DURATION,
    REF,
    ImportJob,
    Unmapped,
    as_dict,
    as_list,
    int_of,
    number_of,
    plugin_kind,
    text_of,
)
from telemetry.dashboards.grafana_variables import variable_of
from telemetry.dashboards.model import (
    DashboardSpec,
    Grid,
    Panel,
    PanelType,
    Query,
    Threshold,
    TimeRange,
    TracesQuery,
    Variable,
    duration_seconds,
    is_time_ref,
    spec_from_builtins,
    to_builtins,
)

PANEL_TYPES: Final[dict[str, PanelType]] = {
    "graph": "timeseries",
    "timeseries": "timeseries",
    "singlestat": "stat",
    "stat": "stat",
    "gauge": "gauge",
    "bargauge": "gauge",
    "table": "table",
    "table-old": "table",
    "text": "text",
    "logs": "logs",
    "traces": "traces",
}
LINE_FILTER = re.compile(r'\|=\s*"((?:[^"\\]|\\.)*)"')


@dataclass
class _Layout:
    """Positions for legacy rows (span-based) and fresh panel ids."""

    next_y: int = 0
    used_ids: set[int] = field(default_factory=set)

    def panel_id(self, wanted: Any) -> int:
        candidate = int_of(wanted, 0)
        if not 1 <= candidate <= 1_000_000 or candidate in self.used_ids:
            candidate = max(self.used_ids, default=0) + 1
        self.used_ids.add(candidate)
        return candidate


def _grid(raw: dict[str, Any]) -> Grid:
    pos = as_dict(raw, "gridPos")
    w = min(max(int_of(pos.get("w"), 12), 1), limits.GRID_COLUMNS)
    x = min(max(int_of(pos.get("x"), 0), 0), limits.GRID_COLUMNS - w)
    return Grid(
        x=x,
        y=min(max(int_of(pos.get("y"), 0), 0), 10_000),
        w=w,
        h=min(max(int_of(pos.get("h"), 8), 1), 100),
    )


def _thresholds(raw: dict[str, Any]) -> list[Threshold]:
    defaults = (raw.get("fieldConfig") or {}).get("defaults") or {}
    steps = (defaults.get("thresholds") or {}).get("steps") if isinstance(defaults, dict) else None
    found: list[Threshold] = []
    if isinstance(steps, list):
        for step in steps[:20]:
            if isinstance(step, dict) and isinstance(step.get("color"), str):
                found.append(
                    Threshold(color=step["color"][:40], value=number_of(step.get("value")))
                )
    elif isinstance(raw.get("thresholds"), str):  # singlestat: "50,80" with three colors
        colors = as_list(raw, "colors")
        values = [number_of(v) for v in raw["thresholds"].split(",") if v.strip()]
        for position, value in enumerate([None, *values][:20]):
            color = colors[position] if position < len(colors) else "red"
            found.append(Threshold(color=str(color)[:40], value=value))
    valid: list[Threshold] = []
    for threshold in found:
        try:
            valid.append(msgspec.convert(msgspec.to_builtins(threshold), Threshold))
        except msgspec.ValidationError:
            continue
    return valid


def _unit(raw: dict[str, Any]) -> str | None:
    defaults = (raw.get("fieldConfig") or {}).get("defaults") or {}
    unit = defaults.get("unit") if isinstance(defaults, dict) else None
    if not unit and isinstance(raw.get("format"), str):
        unit = raw["format"]
    yaxes = raw.get("yaxes")
    if not unit and isinstance(yaxes, list) and yaxes and isinstance(yaxes[0], dict):
        unit = yaxes[0].get("format")
    return text_of(unit, 40) or None


def _tollgate_query(ref: str, extension: Any) -> Query | None:
    try:
        query = msgspec.convert({**extension, "ref": ref}, Query)
        query.kind()
    except (msgspec.ValidationError, ValueError, TypeError):
        return None
    return query


def _target(
    job: ImportJob, path: str, panel_type: str, raw: Any, ref: str, panel_source: Any
) -> Query | None:
    if not isinstance(raw, dict):
        job.skip(path, "not an object")
        return None
    if raw.get("hide") is True:
        job.skip(path, "hidden query")
        return None
    if isinstance(raw.get("tollgate"), dict):
        found = _tollgate_query(ref, raw["tollgate"])
        if found is None:
            job.skip(path, "the tollgate query is not valid")
        return found
    kind = job.source_kind(raw.get("datasource") or panel_source)
    expr = raw["expr"] if isinstance(raw.get("expr"), str) else ""
    if panel_type == "logs":
        if kind != "logs" and kind != "metrics":
            job.skip(path, f"a {kind} query cannot be read")
            return None
        terms = [f'"{t}"' for t in LINE_FILTER.findall(expr)]
        job.skip(path, "LogQL is not translated; its line filters became the log query")
        return Query(ref=ref, logs_query=" ".join(terms)[:4096])
    if panel_type == "traces":
        job.skip(path, "trace queries are not translated; the panel lists recent traces")
        return Query(ref=ref, traces=TracesQuery())
    if kind != "metrics":
        job.skip(path, f"{kind} queries are not supported (only PromQL)")
        return None
    if not expr.strip():
        job.skip(path, "empty PromQL expression")
        return None
    legend = raw.get("legendFormat")
    legend = legend if isinstance(legend, str) and legend != "__auto" and legend else None
    try:
        return msgspec.convert(
            {
                "ref": ref,
                "expr": expr.replace("\x00", "")[:8192],
                "legend": legend and legend[:200],
            },
            Query,
        )
    except msgspec.ValidationError as exc:
        job.skip(path, f"query not importable: {exc}")
        return None


def _panel(
    job: ImportJob, layout: _Layout, path: str, raw: dict[str, Any], grid: Grid
) -> Panel | None:
    grafana_type = raw.get("type")
    panel_type = PANEL_TYPES.get(grafana_type) if isinstance(grafana_type, str) else None
    if panel_type is None:
        job.skip(path, f"panel type {grafana_type!r} is not supported")
        return None
    if grafana_type == "bargauge":
        job.skip(f"{path}.type", "bargauge is shown as a gauge")
    queries: list[Query] = []
    refs: set[str] = set()
    targets = as_list(raw, "targets")
    if panel_type != "text":
        for index, target in enumerate(targets):
            where = f"{path}.targets[{index}]"
            if len(queries) >= limits.MAX_QUERIES_PER_PANEL:
                job.skip(where, f"a panel has at most {limits.MAX_QUERIES_PER_PANEL} queries")
                continue
            ref = target.get("refId") if isinstance(target, dict) else None
            if not isinstance(ref, str) or not REF.match(ref) or ref in refs:
                ref = next(f"Q{n}" for n in range(1, 100) if f"Q{n}" not in refs)
            query = _target(job, where, panel_type, target, ref, raw.get("datasource"))
            if query is not None:
                refs.add(query.ref)
                queries.append(query)
    options = as_dict(raw, "options")
    content = options.get("content", raw.get("content")) if panel_type == "text" else None
    defaults = (raw.get("fieldConfig") or {}).get("defaults") or {}
    interval = str(raw.get("interval") or "").lstrip(">")
    if interval and not DURATION.match(interval):
        job.skip(f"{path}.interval", f"min interval {interval!r} is not a duration")
        interval = ""
    return Panel(
        id=layout.panel_id(raw.get("id")),
        type=panel_type,
        title=text_of(raw.get("title")),
        grid=grid,
        queries=queries,
        unit=_unit(raw),
        thresholds=_thresholds(raw),
        min=number_of(defaults.get("min")) if isinstance(defaults, dict) else None,
        max=number_of(defaults.get("max")) if isinstance(defaults, dict) else None,
        interval=interval or None,
        content=text_of(content, 20_000) or None,
        description=text_of(raw.get("description"), 20_000) or None,
    )


def _panels(job: ImportJob, document: dict[str, Any]) -> list[Panel]:
    layout = _Layout()
    found: list[tuple[str, dict[str, Any], Grid]] = []
    raw_panels = as_list(document, "panels")
    for index, raw in enumerate(raw_panels):
        path = f"panels[{index}]"
        if not isinstance(raw, dict):
            job.skip(path, "not an object")
        elif raw.get("type") == "row":
            nested = as_list(raw, "panels")
            for inner, child in enumerate(nested):  # a collapsed row holds its panels
                if isinstance(child, dict):
                    found.append((f"{path}.panels[{inner}]", child, _grid(child)))
        else:
            found.append((path, raw, _grid(raw)))
    legacy = as_list(document, "rows")
    for row_index, row in enumerate(legacy):  # schemaVersion < 16: spans of 12 columns
        if not isinstance(row, dict) or not isinstance(row.get("panels"), list):
            continue
        height = max(
            1, min(100, int_of(str(row.get("height", "250")).removesuffix("px"), 250) // 30)
        )
        x = 0
        for inner, child in enumerate(row["panels"]):
            if not isinstance(child, dict):
                continue
            w = min(max(int_of(child.get("span"), 12) * 2, 1), limits.GRID_COLUMNS)
            if x + w > limits.GRID_COLUMNS:
                x, layout.next_y = 0, layout.next_y + height
            found.append(
                (
                    f"rows[{row_index}].panels[{inner}]",
                    child,
                    Grid(x=x, y=layout.next_y, w=w, h=height),
                )
            )
            x += w
        layout.next_y += height
    panels: list[Panel] = []
    for path, raw, grid in found:
        if len(panels) >= limits.MAX_PANELS:
            job.skip(path, f"a dashboard has at most {limits.MAX_PANELS} panels")
            continue
        panel = _panel(job, layout, path, raw, grid)
        if panel is not None:
            panels.append(panel)
    return panels


def import_dashboard(document: Any) -> tuple[DashboardSpec, list[Unmapped]]:
    """The model of a Grafana dashboard JSON (or `{"dashboard": …}`) and what was left out."""
    if isinstance(document, dict) and isinstance(document.get("dashboard"), dict):
        document = document["dashboard"]
    if not isinstance(document, dict):
        raise ValidationError("body: a Grafana dashboard JSON object", field="body")
    job = ImportJob()
    inputs = as_list(document, "__inputs")
    for index, item in enumerate(inputs):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            kind = plugin_kind(str(item.get("pluginId") or "").lower())
            job.sources[item["name"]] = kind
            if kind not in ("metrics", "logs", "traces"):
                job.skip(f"__inputs[{index}]", f"{kind} data sources are not supported")
    templating = as_dict(document, "templating")
    raw_variables = as_list(templating, "list")
    variables: list[Variable] = []
    for index, raw in enumerate(raw_variables):
        variable = variable_of(job, index, raw)
        if variable is not None and variable.name in {v.name for v in variables}:
            job.skip(f"templating.list[{index}]", f"variable {variable.name!r} is defined twice")
        elif variable is not None and len(variables) < limits.MAX_VARIABLES:
            variables.append(variable)
        elif variable is not None:
            job.skip(f"templating.list[{index}]", f"at most {limits.MAX_VARIABLES} variables")
    time = as_dict(document, "time")
    start, end = str(time.get("from", "now-6h")), str(time.get("to", "now"))
    if not (is_time_ref(start) and is_time_ref(end)):
        job.skip("time", "time range not understood; now-6h to now is used")
        start, end = "now-6h", "now"
    refresh = document.get("refresh")
    refresh = refresh if isinstance(refresh, str) and DURATION.match(refresh) else None
    if refresh is not None and duration_seconds(refresh) < 1:
        refresh = None
    tags = (
        [text_of(t, 50) for t in document.get("tags", []) if isinstance(t, str)][:20]
        if isinstance(document.get("tags"), list)
        else []
    )
    spec = DashboardSpec(
        title=text_of(document.get("title")).strip() or "Imported dashboard",
        tags=tags,
        time=TimeRange(from_=start, to=end),
        refresh=refresh,
        variables=variables,
        panels=_panels(job, document),
    )
    # Through the model's own decoder: every length and pattern holds as for a POSTed body.
    return spec_from_builtins(to_builtins(spec), "body"), job.unmapped
