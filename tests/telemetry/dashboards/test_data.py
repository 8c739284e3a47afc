"""The data call's pure parts: step selection, time references, variable choice and escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.errors import ValidationError
from telemetry.dashboards.data import ALL, Context, Resolved, choose_step, parse_time
from telemetry.dashboards.model import Variable

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class TestStep:
    @pytest.mark.parametrize(
        ("hours", "points", "minimum", "step"),
        [
            (1, 600, 0, 10),
            (24, 600, 0, 300),
            (24, 100, 0, 900),
            (1, 600, 60, 60),
            (0.01, 600, 0, 1),
        ],
    )
    def test_step_is_the_larger_of_interval_and_range_over_points_rounded_up(
        self, hours: float, points: int, minimum: float, step: int
    ) -> None:
        assert choose_step(NOW - timedelta(hours=hours), NOW, points, minimum) == step


class TestTimes:
    def test_relative_unix_and_iso_times(self) -> None:
        assert parse_time("now-6h", NOW, "from") == NOW - timedelta(hours=6)
        assert parse_time("now", NOW, "to") == NOW
        assert parse_time("1700000000", NOW, "from") == datetime.fromtimestamp(1700000000, UTC)
        assert parse_time("2026-01-01T00:00:00Z", NOW, "from").year == 2026

    @pytest.mark.parametrize("text", ["now-999999y", "999999999999", "tomorrow", "2026-01-01"])
    def test_out_of_range_or_unknown_times_name_the_field(self, text: str) -> None:
        with pytest.raises(ValidationError) as raised:
            parse_time(text, NOW, "from")
        assert raised.value.extra["field"] == "from"


class TestSubstitution:
    def _ctx(self, variable: Variable, options: list[str], selected: list[str]) -> Context:
        ctx = Context(NOW - timedelta(hours=1), NOW, 30)
        ctx.variables[variable.name] = Resolved(variable, options, selected)
        return ctx

    def test_multi_values_become_an_escaped_regex_and_all_every_option(self) -> None:
        host = Variable(
            name="host", kind="query", query="label_values(up, host)", multi=True, include_all=True
        )
        ctx = self._ctx(host, ["a.example:9100", "b"], ["a.example:9100"])
        assert ctx.promql('up{host=~"$host"}', 30) == 'up{host=~"a\\\\.example:9100"}'
        ctx = self._ctx(host, ["a", 'b"c'], [ALL])
        assert ctx.promql('up{host=~"${host}"}', 30) == 'up{host=~"a|b\\"c"}'

    def test_builtins_follow_the_step(self) -> None:
        ctx = Context(NOW - timedelta(hours=1), NOW, 30)
        text = "rate(x[$__rate_interval]) [$__interval] $__range [[unknown]]"
        assert ctx.promql(text, 30) == "rate(x[60s]) [30s] 3600s [[unknown]]"
