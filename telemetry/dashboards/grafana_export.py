"""Grafana dashboard JSON out: the classic model with a `${DS_PROMETHEUS}` input.

Every target also carries a `tollgate` object with the query exactly as stored (Grafana keeps
unknown target fields), so logs, traces and usage queries survive a round trip through Grafana
and an import of the export gives back the same panels and queries.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from telemetry.dashboards.model import DashboardSpec, Panel, Query, Variable

SCHEMA_VERSION: Final = 39
METRICS: Final = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
LOGS: Final = {"type": "loki", "uid": "${DS_LOKI}"}
TRACES: Final = {"type": "tempo", "uid": "${DS_TEMPO}"}
_INPUTS: Final = {
    "DS_PROMETHEUS": ("Prometheus", "prometheus"),
    "DS_LOKI": ("Loki", "loki"),
    "DS_TEMPO": ("Tempo", "tempo"),
}


def _source(panel: Panel) -> dict[str, str]:
    return {"logs": LOGS, "traces": TRACES}.get(panel.type, METRICS)


def _target(panel: Panel, query: Query) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": query.ref,
        "datasource": _source(panel),
        "tollgate": {k: v for k, v in msgspec.to_builtins(query).items() if k != "ref"},
    }
    if query.expr is not None:
        target.update(expr=query.expr, range=True, legendFormat=query.legend or "__auto")
    elif query.logs_query is not None:
        target["expr"] = "{}"  # no LogQL equivalent; the tollgate object holds the query
    return target


def _panel(panel: Panel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel.id,
        "type": panel.type,
        "title": panel.title,
        "gridPos": {"x": panel.grid.x, "y": panel.grid.y, "w": panel.grid.w, "h": panel.grid.h},
    }
    if panel.description:
        out["description"] = panel.description
    if panel.type == "text":
        out["options"] = {"mode": "markdown", "content": panel.content or ""}
        return out
    defaults: dict[str, Any] = {}
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": t.color, "value": t.value} for t in panel.thresholds],
        }
    out.update(
        datasource=_source(panel),
        targets=[_target(panel, q) for q in panel.queries],
        fieldConfig={"defaults": defaults, "overrides": []},
        options={},
    )
    if panel.interval:
        out["interval"] = panel.interval
    return out


def _variable(variable: Variable) -> dict[str, Any]:
    values = variable.values
    default = variable.default or ([] if variable.kind == "query" else values[:1])
    current: dict[str, Any] = {
        "selected": True,
        "text": default if variable.multi else (default[0] if default else ""),
        "value": default if variable.multi else (default[0] if default else ""),
    }
    out: dict[str, Any] = {
        "name": variable.name,
        "type": variable.kind,
        "hide": 0,
        "multi": variable.multi,
        "includeAll": variable.include_all,
        "current": current,
        "options": [{"text": v, "value": v, "selected": v in default} for v in values],
    }
    if variable.label:
        out["label"] = variable.label
    if variable.all_value is not None:
        out["allValue"] = variable.all_value
    if variable.kind == "query":
        out.update(
            datasource=METRICS,
            definition=variable.query,
            query={"query": variable.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            refresh=2,
            regex="",
            sort=1,
            options=[],
        )
    else:
        out["query"] = ",".join(v.replace(",", "\\,") for v in values)
    return out


def export_grafana(spec: DashboardSpec, uid: str, version: int) -> dict[str, Any]:
    """The dashboard as Grafana's classic dashboard JSON, ready for Grafana's import."""
    kinds = {
        "logs" if p.type == "logs" else "traces" if p.type == "traces" else "metrics"
        for p in spec.panels
    }
    wanted = (
        {"DS_PROMETHEUS"}
        | ({"DS_LOKI"} if "logs" in kinds else set())
        | ({"DS_TEMPO"} if "traces" in kinds else set())
    )
    return {
        "__inputs": [
            {
                "name": name,
                "label": label,
                "description": "",
                "type": "datasource",
                "pluginId": plugin,
                "pluginName": label,
            }
            for name, (label, plugin) in _INPUTS.items()
            if name in wanted
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"}
        ],
        "uid": uid,
        "title": spec.title,
        "tags": spec.tags,
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": version,
        "time": {"from": spec.time.from_, "to": spec.time.to},
        "refresh": spec.refresh or "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [_variable(v) for v in spec.variables]},
        "panels": [_panel(p) for p in spec.panels],
    }
