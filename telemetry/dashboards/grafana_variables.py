"""Grafana `templating.list` in: query (`label_values`), custom, constant, textbox, interval;
datasource variables resolve to the project's stores."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from telemetry.dashboards import limits
from telemetry.dashboards.grafana_common import DURATION, NAME, ImportJob, plugin_kind, text_of
from telemetry.dashboards.model import Variable, label_values_query


def _current(variable: dict[str, Any]) -> list[str]:
    current = variable.get("current")
    value = current.get("value") if isinstance(current, dict) else None
    values = value if isinstance(value, list) else [value] if value is not None else []
    return [
        str(v)[:500] for v in values if isinstance(v, str | int | float) and v not in ("", "$__all")
    ]


def _option_values(variable: dict[str, Any]) -> list[str]:
    options = variable.get("options")
    if not isinstance(options, list):
        return []
    found = [o.get("value") for o in options if isinstance(o, dict)]
    return [str(v)[:500] for v in found if isinstance(v, str | int | float) and v != "$__all"]


def _query_text(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    if not isinstance(query, str) or not query.strip():
        query = variable.get("definition")
    return query.strip() if isinstance(query, str) else ""


def _split_custom(query: str) -> list[str]:
    # Grafana's custom syntax: "a, b, c" with "text : value" pairs and "\," for a literal comma.
    parts = [p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\),", query)]
    values = [p.split(" : ", 1)[1].strip() if " : " in p else p for p in parts]
    return [v[:500] for v in values if v]


def variable_of(job: ImportJob, index: int, raw: Any) -> Variable | None:
    path = f"templating.list[{index}]"
    if not isinstance(raw, dict):
        job.skip(path, "not an object")
        return None
    name = raw.get("name")
    kind = raw.get("type")
    if not isinstance(name, str) or not NAME.match(name) or name.startswith("__"):
        job.skip(path, f"variable name {name!r} is not usable")
        return None
    if kind == "datasource":
        plugin = str(raw.get("query") or "prometheus").lower()
        job.sources[name] = plugin_kind(plugin)
        return None  # the project has one store of each kind: nothing to choose
    common: dict[str, Any] = {
        "name": name,
        "label": text_of(raw.get("label")) or None,
        "multi": bool(raw.get("multi")),
        "include_all": bool(raw.get("includeAll")),
        "all_value": text_of(raw.get("allValue"), 500) or None,
    }
    query = _query_text(raw)
    default = _current(raw)[: limits.MAX_VARIABLE_VALUES]
    if kind == "query":
        if label_values_query(query) is None:
            values = default or _option_values(raw)
            job.skip(path, f"query {query[:80]!r} is not label_values(...): kept as custom values")
            if not values:
                return None
            return _build(job, path, common, "custom", values=values, default=default)
        if raw.get("regex"):
            job.skip(f"{path}.regex", "the regex filter of a query variable is not applied")
        return _build(job, path, common, "query", query=query[:8192], default=default)
    if kind in ("custom", "constant", "textbox"):
        values = _option_values(raw) or _split_custom(query) or default
        if not values:
            job.skip(path, f"{kind} variable without values")
            return None
        if kind != "custom":
            common.update(multi=False, include_all=False)
        return _build(job, path, common, "custom", values=values, default=default)
    if kind == "interval":
        values = [v for v in _split_custom(query) if DURATION.match(v)]
        if "auto" in query or raw.get("auto"):
            job.skip(f"{path}.auto", "auto intervals are not supported; the step list is kept")
        if not values:
            job.skip(path, "interval variable without usable durations")
            return None
        default = [d for d in default if d in values]
        common.update(multi=False, include_all=False, all_value=None)
        return _build(job, path, common, "interval", values=values, default=default)
    job.skip(path, f"variables of type {kind!r} are not supported")
    return None


def _build(
    job: ImportJob, path: str, common: dict[str, Any], kind: str, **fields: Any
) -> Variable | None:
    fields["values"] = list(dict.fromkeys(fields.get("values", [])))[: limits.MAX_VARIABLE_VALUES]
    default = fields.get("default") or []
    if kind != "query":
        default = [d for d in default if d in fields["values"]]
    fields["default"] = default if common["multi"] else default[:1]
    try:
        return msgspec.convert({**common, "kind": kind, **fields}, Variable)
    except msgspec.ValidationError as exc:
        job.skip(path, f"variable not importable: {exc}")
        return None
