"""Grafana dashboard JSON in and out: the common subset maps, the rest is reported, and an export
imports back to the same panels and queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from telemetry.dashboards.grafana_export import export_grafana
from telemetry.dashboards.grafana_import import import_dashboard
from telemetry.dashboards.templates import TEMPLATES, instantiate

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return document


class TestImport:
    def test_the_red_dashboard_maps_every_panel_variable_and_unit(self) -> None:
        spec, unmapped = import_dashboard(fixture("service_red"))
        assert unmapped == []
        assert [p.type for p in spec.panels] == ["stat"] * 3 + ["timeseries"] * 3
        legacy = spec.panels[2]  # singlestat: `format` and "0.7,0.9" thresholds with colors
        assert legacy.unit == "percentunit"
        assert [(t.color, t.value) for t in legacy.thresholds] == [
            ("#d44a3a", None),
            ("rgba(237, 129, 40, 0.89)", 0.7),
            ("#299c46", 0.9),
        ]
        route = next(v for v in spec.variables if v.name == "route")
        assert (route.kind, route.multi, route.include_all) == ("query", True, True)
        assert next(v for v in spec.variables if v.name == "quantile").default == ["0.95"]
        latency = spec.panels[4]
        assert latency.interval == "30s"
        assert [(q.ref, q.legend) for q in latency.queries] == [("A", "p$quantile"), ("B", "mean")]

    def test_legacy_rows_with_spans_get_grid_positions(self) -> None:
        document = {
            "title": "Old",
            "schemaVersion": 14,
            "rows": [
                {
                    "height": "300px",
                    "panels": [
                        {"id": 1, "type": "graph", "span": 6, "targets": [{"expr": "up"}]},
                        {"id": 2, "type": "singlestat", "span": 6, "targets": [{"expr": "up"}]},
                        {"id": 3, "type": "text", "span": 12, "content": "hi"},
                    ],
                }
            ],
        }
        spec, _ = import_dashboard(document)
        grids = [(p.grid.x, p.grid.y, p.grid.w, p.grid.h) for p in spec.panels]
        assert grids == [(0, 0, 12, 10), (12, 0, 12, 10), (0, 10, 24, 10)]
        assert spec.panels[2].content == "hi"
        assert spec.panels[0].queries[0].ref == "Q1"  # Grafana left refId out

    def test_datasources_other_than_the_projects_stores_are_reported(self) -> None:
        document = {
            "__inputs": [{"name": "DS_INFLUX", "type": "datasource", "pluginId": "influxdb"}],
            "panels": [
                {
                    "id": 1,
                    "type": "timeseries",
                    "datasource": "${DS_INFLUX}",
                    "targets": [{"refId": "A", "query": "SELECT 1"}],
                },
                {"id": 1, "type": "stat", "targets": [{"refId": "A", "expr": "up"}]},
            ],
        }
        spec, unmapped = import_dashboard(document)
        assert [u.path for u in unmapped] == ["__inputs[0]", "panels[0].targets[0]"]
        assert [p.id for p in spec.panels] == [1, 2]  # a duplicate id gets a fresh one

    @pytest.mark.parametrize(
        "document",
        [
            {},
            {"panels": [None, 1, "x", {"type": None}, {"type": "stat", "gridPos": "x"}]},
            {"panels": [{"type": "stat", "gridPos": {"x": 99, "w": 99, "h": -1}}]},
            {"templating": {"list": [{"name": "__x", "type": "query"}, {"type": "custom"}]}},
            {"title": "\x00" * 5, "tags": ["a\x00b", 5], "time": {"from": 5}},
            {"panels": [{"type": "stat", "targets": [{"expr": "up", "refId": "A"}] * 30}]},
        ],
    )
    def test_odd_documents_import_without_error(self, document: dict[str, Any]) -> None:
        spec, _ = import_dashboard(document)
        assert spec.title


class TestRoundTrip:
    @pytest.mark.parametrize("name", ["node_exporter_full", "service_red"])
    def test_export_then_import_is_the_same_dashboard(self, name: str) -> None:
        spec, _ = import_dashboard(fixture(name))
        exported = json.loads(json.dumps(export_grafana(spec, "dsh_x", 3)))
        assert exported["version"] == 3
        assert exported["templating"]["list"][0]["datasource"] == {
            "type": "prometheus",
            "uid": "${DS_PROMETHEUS}",
        }
        again, unmapped = import_dashboard(exported)
        assert unmapped == []
        assert again == spec

    @pytest.mark.parametrize("template", sorted(TEMPLATES))
    def test_templates_survive_grafana_too(self, template: str) -> None:
        spec = instantiate(template, "checkout")
        again, unmapped = import_dashboard(export_grafana(spec, "dsh_t", 1))
        assert unmapped == []
        assert again == spec
