"""Built-in dashboards: a service's RED overview, its golden signals, and Tollgate usage.

Metric names follow the OTel semantic conventions as our OTLP conversion stores them
(`http.server.request.duration` in seconds -> `http_server_request_duration_seconds_*`,
`service.name` -> `job`, `http.response.status_code` -> `http_response_status_code`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from infra.errors import NotFoundError, ValidationError
from telemetry.dashboards.model import DashboardSpec, spec_from_builtins

SERVICE: Final = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")
HTTP: Final = "http_server_request_duration_seconds"
SEL: Final = 'job="$service"'
ERRORS: Final = f'{SEL},http_response_status_code=~"5.."'


@dataclass(frozen=True)
class Template:
    """A built-in dashboard and what instantiating it needs."""

    id: str
    title: str
    description: str
    needs_service: bool
    build: Callable[[str | None], dict[str, Any]]


def _panel(
    pid: int, kind: str, title: str, grid: tuple[int, int, int, int], **rest: Any
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "grid": {"x": x, "y": y, "w": w, "h": h},
        **rest,
    }


def _q(expr: str, legend: str | None = None, ref: str = "A") -> dict[str, Any]:
    return {"ref": ref, "expr": expr, **({"legend": legend} if legend else {})}


def _service_variable(service: str | None) -> dict[str, Any]:
    return {
        "name": "service",
        "kind": "query",
        "label": "Service",
        "query": f"label_values({HTTP}_count, job)",
        "default": [service] if service else [],
    }


def _latency(pid: int, grid: tuple[int, int, int, int]) -> dict[str, Any]:
    bucket = f"sum by (le) (rate({HTTP}_bucket{{{SEL}}}[$__rate_interval]))"
    return _panel(
        pid,
        "timeseries",
        "Latency",
        grid,
        unit="s",
        queries=[
            _q(f"histogram_quantile(0.5, {bucket})", "p50", "P50"),
            _q(f"histogram_quantile(0.95, {bucket})", "p95", "P95"),
            _q(f"histogram_quantile(0.99, {bucket})", "p99", "P99"),
        ],
    )


def _red(service: str | None) -> dict[str, Any]:
    rate = f"sum(rate({HTTP}_count{{{SEL}}}[$__rate_interval]))"
    errors = f"sum(rate({HTTP}_count{{{ERRORS}}}[$__rate_interval]))"
    ratio = f"({errors} or vector(0)) / {rate}"
    amber_red = [
        {"color": "green", "value": None},
        {"color": "orange", "value": 0.01},
        {"color": "red", "value": 0.05},
    ]
    return {
        "title": f"{service or '$service'} — service overview (RED)",
        "tags": ["red", "service"],
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "variables": [_service_variable(service)],
        "panels": [
            _panel(1, "stat", "Requests / s", (0, 0, 6, 4), unit="reqps", queries=[_q(rate)]),
            _panel(
                2,
                "stat",
                "Error ratio",
                (6, 0, 6, 4),
                unit="percentunit",
                thresholds=amber_red,
                queries=[_q(ratio)],
            ),
            _panel(
                3,
                "gauge",
                "p95 latency",
                (12, 0, 6, 4),
                unit="s",
                queries=[
                    _q(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate({HTTP}_bucket{{{SEL}}}[$__rate_interval])))"
                    )
                ],
            ),
            _panel(
                4,
                "timeseries",
                "Requests by status",
                (0, 4, 12, 8),
                unit="reqps",
                queries=[
                    _q(
                        "sum by (http_response_status_code) "
                        f"(rate({HTTP}_count{{{SEL}}}[$__rate_interval]))",
                        "{{http_response_status_code}}",
                    )
                ],
            ),
            _latency(5, (12, 4, 12, 8)),
            _panel(
                6,
                "logs",
                "Errors in logs",
                (0, 12, 12, 8),
                queries=[{"ref": "A", "logs_query": "service:$service level:ERROR"}],
            ),
            _panel(
                7,
                "traces",
                "Failed traces",
                (12, 12, 12, 8),
                queries=[{"ref": "A", "traces": {"service": "$service", "status": "error"}}],
            ),
        ],
    }


def _golden(service: str | None) -> dict[str, Any]:
    traffic = f"sum(rate({HTTP}_count{{{SEL}}}[$__rate_interval]))"
    errors = f"sum(rate({HTTP}_count{{{ERRORS}}}[$__rate_interval])) or vector(0)"
    return {
        "title": f"{service or '$service'} — golden signals",
        "tags": ["golden-signals", "service"],
        "variables": [_service_variable(service)],
        "panels": [
            _latency(1, (0, 0, 12, 8)),
            _panel(
                2,
                "timeseries",
                "Traffic",
                (12, 0, 12, 8),
                unit="reqps",
                queries=[_q(traffic, "requests")],
            ),
            _panel(
                3, "timeseries", "Errors", (0, 8, 12, 8), unit="reqps", queries=[_q(errors, "5xx")]
            ),
            _panel(
                4,
                "timeseries",
                "Saturation",
                (12, 8, 12, 8),
                queries=[
                    _q(
                        f"sum(rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval]))",
                        "cpu cores",
                        "CPU",
                    ),
                    _q(f"sum(process_resident_memory_bytes{{{SEL}}})", "resident memory", "MEM"),
                ],
            ),
        ],
    }


def _usage(_: str | None) -> dict[str, Any]:
    def by(category: str) -> dict[str, Any]:
        return {"ref": "A", "usage": {"group_by": ["outcome"], "category": category}}

    return {
        "title": "Tollgate usage",
        "tags": ["tollgate", "usage", "billing"],
        "time": {"from": "now-7d", "to": "now"},
        "panels": [
            _panel(
                1,
                "timeseries",
                "Units by category",
                (0, 0, 24, 8),
                queries=[{"ref": "A", "usage": {"group_by": ["category"]}}],
            ),
            _panel(
                2, "stat", "Metric data points", (0, 8, 6, 4), unit="short", queries=[by("metrics")]
            ),
            _panel(3, "stat", "Log bytes", (6, 8, 6, 4), unit="decbytes", queries=[by("logs")]),
            _panel(4, "stat", "Traces", (12, 8, 6, 4), unit="short", queries=[by("traces")]),
            _panel(5, "stat", "Spans", (18, 8, 6, 4), unit="short", queries=[by("spans")]),
            _panel(
                6,
                "table",
                "Units by category and outcome (refused ones too)",
                (0, 12, 24, 8),
                queries=[{"ref": "A", "usage": {"group_by": ["category", "outcome"]}}],
            ),
            _panel(
                7,
                "text",
                "About",
                (0, 20, 24, 3),
                content=(
                    "Units as Tollgate bills them (ARCHITECTURE §4), hourly, from the usage "
                    "ledger: data points, log bytes, traces (root spans) and spans, by outcome."
                ),
            ),
        ],
    }


TEMPLATES: Final = {
    t.id: t
    for t in (
        Template(
            "red",
            "Service overview (RED)",
            "Rate, errors and duration of one service's "
            "HTTP server, with its error logs and failed traces.",
            True,
            _red,
        ),
        Template(
            "golden-signals",
            "Golden signals",
            "Latency, traffic, errors and saturation of one service.",
            True,
            _golden,
        ),
        Template(
            "tollgate-usage",
            "Tollgate usage",
            "The org's own billed units by category "
            "and outcome, from Tollgate's ledger: what you are billed for.",
            False,
            _usage,
        ),
    )
}


def instantiate(template_id: str, service: str | None) -> DashboardSpec:
    """The spec of a template for a service; 404 for an unknown template, 422 for a bad service."""
    template = TEMPLATES.get(template_id)
    if template is None:
        raise NotFoundError(f"template: no template {template_id!r}", field="template")
    if template.needs_service and (service is None or not SERVICE.match(service)):
        raise ValidationError(
            "service: this template needs a service name (letters, digits, _ . : / -)",
            field="service",
        )
    return spec_from_builtins(template.build(service), "template")
