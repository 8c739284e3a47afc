"""One call for a dashboard's data: variables resolved, then every panel's queries at once.

Cost is bounded (telemetry.dashboards.limits): the step keeps each series under
`max_data_points`, a query keeps at most MAX_SERIES_PER_QUERY series, the whole answer at most
MAX_POINTS_PER_RESPONSE points (later series are cut and flagged `truncated`). PromQL queries run
concurrently (METRIC_CONCURRENCY at a time); log, trace and usage reads share one lane beside
them, one at a time, so a dashboard holds at most one database connection for its stores.
A variable's value must be one of its options (custom and interval lists, or the label values
the store has), so no request, share links included, can write its own PromQL into a panel.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from infra.errors import AppError, ValidationError
from infra.timeparse import utc_instant
from telemetry.dashboards import limits
from telemetry.dashboards.model import (
    DashboardSpec,
    Panel,
    Query,
    TracesQuery,
    Variable,
    duration_seconds,
    label_values_query,
)
from telemetry.dashboards.sources import ProjectSources, QueryFailedError, Series

ALL: Final = "$__all"
NICE_STEPS: Final = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)
_RELATIVE = re.compile(r"^now(?:-([0-9]{1,6})(s|m|h|d|w|M|y))?(?:/[smhdwMy])?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2_592_000, "y": 31_536_000}
_REFERENCE = re.compile(
    r"\$\{([A-Za-z0-9_]+)(?::[A-Za-z]+)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)"
)
_LEGEND = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")


def parse_time(text: str, now: datetime, field_name: str) -> datetime:
    """`now`, `now-6h`, Unix seconds or an ISO instant with a timezone; 422 naming the field."""
    try:
        found = _RELATIVE.match(text)
        if found:
            amount = int(found.group(1) or 0) * _UNIT.get(found.group(2) or "s", 1)
            return utc_instant(now - timedelta(seconds=amount), field_name)
        if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,9})?", text):
            return utc_instant(datetime.fromtimestamp(float(text), UTC), field_name)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):  # also: before year 1 or past 9999
        raise ValidationError(
            f"{field_name}: use now, now-<n><unit>, Unix seconds or an ISO instant in range",
            field=field_name,
        ) from None
    return utc_instant(parsed, field_name)


def window(
    spec: DashboardSpec, start: str | None, end: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """The time range asked for, else the dashboard's; 422 for an empty or too long one."""
    first = parse_time(start or spec.time.from_, now, "from")
    last = parse_time(end or spec.time.to, now, "to")
    if first >= last:
        raise ValidationError("from: must be before to", field="from")
    if last - first > limits.MAX_RANGE:
        raise ValidationError(
            f"from: a range of at most {limits.MAX_RANGE.days} days", field="from"
        )
    return first, last


def choose_step(start: datetime, end: datetime, max_points: int, min_interval: float) -> int:
    """max(min interval, range / max points), rounded up to a usual step (seconds)."""
    wanted = max(min_interval, (end - start).total_seconds() / max_points, limits.MIN_STEP_SECONDS)
    for step in NICE_STEPS:
        if step >= wanted:
            return step
    return int(math.ceil(wanted / 86400) * 86400)


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(r"\\\1", value)


def _string_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass
class Resolved:
    """A variable's options and the values chosen for this call."""

    variable: Variable
    options: list[str]
    selected: list[str]

    def promql(self) -> str:
        """The selection as it goes inside a PromQL string (a regex when multi or all)."""
        if self.variable.kind == "interval" or not (
            self.variable.multi or self.variable.include_all
        ):
            return _string_escape(self.selected[0]) if self.selected else ""
        if self.selected == [ALL] and self.variable.all_value is not None:
            return _string_escape(self.variable.all_value)
        values = self.options if self.selected == [ALL] else self.selected
        return _string_escape("|".join(_regex_escape(v) for v in values))

    def plain(self) -> str:
        """The selection in a log query or a trace filter: the first value."""
        values = self.options if self.selected == [ALL] else self.selected
        return values[0] if values else ""

    def json(self) -> dict[str, Any]:
        return {"options": self.options, "selected": self.selected}


@dataclass
class Context:
    """What substitution knows: resolved variables and the call's window and step."""

    start: datetime
    end: datetime
    step: int
    variables: dict[str, Resolved] = field(default_factory=dict)

    def builtin(self, name: str, step: int) -> str | None:
        rate = max(step + 15, 60)
        return {
            "__interval": f"{step}s",
            "__interval_ms": str(step * 1000),
            "__rate_interval": f"{rate}s",
            "__range": f"{int((self.end - self.start).total_seconds())}s",
            "__range_s": str(int((self.end - self.start).total_seconds())),
        }.get(name)

    def promql(self, text: str, step: int) -> str:
        def replace(found: re.Match[str]) -> str:
            name = found.group(1) or found.group(2) or found.group(3)
            if name in self.variables:
                return self.variables[name].promql()
            return self.builtin(name, step) or found.group(0)

        return _REFERENCE.sub(replace, text)

    def plain(self, text: str) -> str:
        def replace(found: re.Match[str]) -> str:
            name = found.group(1) or found.group(2) or found.group(3)
            resolved = self.variables.get(name)
            return resolved.plain().replace('"', "") if resolved else found.group(0)

        return _REFERENCE.sub(replace, text)


def _chosen(variable: Variable, asked: Sequence[str] | None, options: list[str]) -> list[str]:
    where = f"var.{variable.name}"
    if asked:
        if len(asked) > 1 and not variable.multi:
            raise ValidationError(f"{where}: takes one value", field=where)
        for value in asked:
            if value == ALL and variable.include_all:
                return [ALL]
            if value not in options:
                raise ValidationError(
                    f"{where}: {value[:100]!r} is not one of its values", field=where
                )
        return list(dict.fromkeys(asked))
    default = [d for d in variable.default if d in options or (d == ALL and variable.include_all)]
    if default:
        return default
    if variable.include_all:
        return [ALL]
    return options[:1]


async def resolve_variables(
    spec: DashboardSpec, sources: ProjectSources, asked: Mapping[str, Sequence[str]], ctx: Context
) -> None:
    """Each variable in order (a selector may use earlier ones); label values from the store."""
    unknown = sorted(set(asked) - {v.name for v in spec.variables})
    if unknown:
        raise ValidationError(
            f"var.{unknown[0]}: the dashboard has no such variable", field=f"var.{unknown[0]}"
        )
    for variable in spec.variables:
        if variable.kind == "query":
            parsed = label_values_query(variable.query or "")
            match, label = parsed if parsed else (None, "")
            try:
                options = await sources.label_values(
                    label, ctx.promql(match, ctx.step) if match else None, ctx.start, ctx.end
                )
            except QueryFailedError:
                options = []
            options = sorted(options)[: limits.MAX_VARIABLE_VALUES]
        else:
            options = list(variable.values)
        ctx.variables[variable.name] = Resolved(
            variable, options, _chosen(variable, asked.get(variable.name), options)
        )


def _legend(series: Series, legend: str | None) -> str:
    if legend:
        return _LEGEND.sub(lambda m: series.labels.get(m.group(1), ""), legend)
    name = series.labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _min_interval(panel: Panel, ctx: Context) -> float:
    if not panel.interval:
        return 0.0
    text = ctx.plain(panel.interval)
    try:
        return duration_seconds(text)
    except ValueError:
        return 0.0


async def _metric(
    sources: ProjectSources, ctx: Context, query: Query, step: int, sem: asyncio.Semaphore
) -> dict[str, Any]:
    expr = ctx.promql(query.expr or "", step)
    async with sem:
        found, cut = await sources.query_range(
            expr, ctx.start, ctx.end, step, limits.MAX_SERIES_PER_QUERY
        )
    return {
        "series": [
            {"name": _legend(s, query.legend), "labels": s.labels, "points": s.points}
            for s in found
        ],
        "truncated": cut,
    }


async def _lane_query(sources: ProjectSources, ctx: Context, query: Query) -> dict[str, Any]:
    if query.logs_query is not None:
        return {
            "records": await sources.logs(
                ctx.plain(query.logs_query), ctx.start, ctx.end, limits.MAX_LOG_RECORDS
            )
        }
    if query.traces is not None:
        filters = query.traces
        search = TracesQuery(
            service=ctx.plain(filters.service) if filters.service else None,
            operation=ctx.plain(filters.operation) if filters.operation else None,
            status=filters.status,
            min_duration_ms=filters.min_duration_ms,
        )
        return {"traces": await sources.traces(search, ctx.start, ctx.end, limits.MAX_TRACES)}
    usage = query.usage
    if usage is None:  # the model allows nothing else in this lane
        raise QueryFailedError("the query has no expr, logs_query, traces or usage")
    # The ledger is hourly: every hour that overlaps the window counts, the first one included.
    first_hour = ctx.start.replace(minute=0, second=0, microsecond=0)
    dims = list(dict.fromkeys([*usage.group_by, *(["category"] if usage.category else [])]))
    rows = await sources.usage(first_hour, ctx.end, dims)
    grouped: dict[tuple[tuple[str, str], ...], list[tuple[float, float | None]]] = {}
    for row in rows:
        if usage.category and row.get("category") != usage.category:
            continue
        labels = tuple((d, str(row.get(d))) for d in usage.group_by)
        start = row["start"]
        stamp = start.timestamp() if isinstance(start, datetime) else float(str(start))
        grouped.setdefault(labels, []).append((stamp, float(str(row["quantity"]))))
    series = [
        {
            "name": ", ".join(v for _, v in labels) or "units",
            "labels": dict(labels),
            "points": points,
        }
        for labels, points in sorted(grouped.items())
    ]
    return {"series": series, "truncated": False}


async def _guarded(ref: str, work: Any) -> dict[str, Any]:
    try:
        return {"ref": ref, "status": "ok", **(await work)}
    except QueryFailedError as exc:
        return {"ref": ref, "status": "error", "error": str(exc)}
    except AppError as exc:  # a store's refusal (a bad window, a query syntax) stays on its panel
        return {"ref": ref, "status": "error", "error": exc.detail}


def _budget(panels: list[dict[str, Any]]) -> None:
    """Cut series beyond the response's point budget, in panel order."""
    left = limits.MAX_POINTS_PER_RESPONSE
    for panel in panels:
        for query in panel["queries"]:
            kept = []
            for series in query.get("series", []):
                if len(series["points"]) > left:
                    query["truncated"] = True
                    continue
                left -= len(series["points"])
                kept.append(series)
            if "series" in query:
                query["series"] = kept


async def dashboard_data(
    spec: DashboardSpec,
    sources: ProjectSources,
    *,
    start: datetime,
    end: datetime,
    max_points: int,
    asked: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Every panel's data for the window, in one answer."""
    base_step = choose_step(start, end, max_points, 0)
    ctx = Context(start, end, base_step)
    await resolve_variables(spec, sources, asked, ctx)
    sem = asyncio.Semaphore(limits.METRIC_CONCURRENCY)
    metric_tasks: list[tuple[int, int, asyncio.Task[dict[str, Any]]]] = []
    lane: list[tuple[int, int, Query]] = []
    steps: dict[int, int] = {}
    for p_index, panel in enumerate(spec.panels):
        steps[p_index] = step = choose_step(start, end, max_points, _min_interval(panel, ctx))
        for q_index, query in enumerate(panel.queries):
            if query.expr is not None:
                task = asyncio.ensure_future(
                    _guarded(query.ref, _metric(sources, ctx, query, step, sem))
                )
                metric_tasks.append((p_index, q_index, task))
            else:
                lane.append((p_index, q_index, query))

    async def run_lane() -> list[tuple[int, int, dict[str, Any]]]:
        return [
            (p, q, await _guarded(query.ref, _lane_query(sources, ctx, query)))
            for p, q, query in lane
        ]

    try:
        lane_results = await run_lane()
        await asyncio.gather(*(t for _, _, t in metric_tasks))
    finally:
        for _, _, task in metric_tasks:
            task.cancel()
    answers: dict[tuple[int, int], dict[str, Any]] = {(p, q): r for p, q, r in lane_results}
    answers.update({(p, q): t.result() for p, q, t in metric_tasks})
    panels = [
        {
            "id": panel.id,
            "type": panel.type,
            "step": steps[p_index],
            "queries": [answers[(p_index, q_index)] for q_index in range(len(panel.queries))],
        }
        for p_index, panel in enumerate(spec.panels)
    ]
    _budget(panels)
    return {
        "from": start,
        "to": end,
        "step": base_step,
        "variables": {name: r.json() for name, r in ctx.variables.items()},
        "panels": panels,
    }
