"""What Grafana import shares: datasource kinds, the report of what was left out, safe readers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

METRIC_SOURCES: Final = frozenset({"prometheus", "victoriametrics-datasource", "tollgate"})
LOG_SOURCES: Final = frozenset({"loki"})
TRACE_SOURCES: Final = frozenset({"tempo", "jaeger", "zipkin"})
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
REF = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
DURATION = re.compile(r"^[0-9]{1,6}(ms|s|m|h|d|w)$")
_VAR_REF = re.compile(r"^\$\{?([A-Za-z0-9_]+)\}?$")


@dataclass
class Unmapped:
    """A part of the Grafana document that was not imported, and why."""

    path: str
    reason: str


@dataclass
class ImportJob:
    """State of one import: datasource kinds by name and what was left out."""

    sources: dict[str, str] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        self.unmapped.append(Unmapped(path, reason))

    def source_kind(self, ref: Any) -> str:
        """`metrics`, `logs`, `traces` or the plugin type we cannot map (None: the default)."""
        if ref is None or ref == "" or ref == "default" or ref == "-- Mixed --":
            return "metrics"
        if isinstance(ref, dict):
            kind = str(ref.get("type") or "")
            uid = ref.get("uid")
            if not kind and isinstance(uid, str):
                return self.source_kind(uid)
            return plugin_kind(kind) if kind else "metrics"
        if isinstance(ref, str):
            found = _VAR_REF.match(ref)
            name = found.group(1) if found else ref
            if name in self.sources:
                return self.sources[name]
            return plugin_kind(name.lower()) if name.lower() in _KNOWN else "metrics"
        return "unknown"


_KNOWN: Final = METRIC_SOURCES | LOG_SOURCES | TRACE_SOURCES | {"loki", "prometheus"}


def plugin_kind(plugin: str) -> str:
    if plugin in METRIC_SOURCES:
        return "metrics"
    if plugin in LOG_SOURCES:
        return "logs"
    if plugin in TRACE_SOURCES:
        return "traces"
    return plugin or "metrics"


def as_list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    return value if isinstance(value, list) else []


def as_dict(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def text_of(value: Any, limit: int = 200) -> str:
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def number_of(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def int_of(value: Any, default: int) -> int:
    number = number_of(value)
    return int(number) if number is not None else default
