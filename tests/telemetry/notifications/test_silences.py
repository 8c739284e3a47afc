"""Silence matchers: the four operators, anchored regexes, and catastrophic patterns refused."""

from __future__ import annotations

import pytest

from infra.errors import ValidationError
from telemetry.notifications.silences import _check_matchers, matches

LABELS = {"service": "checkout", "env": "prod"}


class TestMatchers:
    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            ("=", "checkout", True),
            ("=", "check", False),
            ("!=", "cart", True),
            ("!=", "checkout", False),
            ("=~", "check.*", True),
            ("=~", "check", False),  # anchored: a full match, as Alertmanager does
            ("!~", "cart|search", True),
            ("!~", "check.*", False),
        ],
    )
    def test_each_operator(self, op: str, value: str, expected: bool) -> None:
        assert matches([{"label": "service", "op": op, "value": value}], LABELS) is expected

    def test_every_matcher_must_match_and_a_missing_label_reads_empty(self) -> None:
        both = [
            {"label": "service", "op": "=", "value": "checkout"},
            {"label": "env", "op": "=", "value": "staging"},
        ]
        assert not matches(both, LABELS)
        assert matches([{"label": "region", "op": "=", "value": ""}], LABELS)
        assert not matches([{"label": "region", "op": "=~", "value": ".+"}], LABELS)

    @pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w*)*x", "(a|a)*b", "(x+x+)+y"])
    def test_catastrophic_patterns_match_in_linear_time(self, pattern: str) -> None:
        # Each would backtrack for minutes on a backtracking engine; RE2 answers at once.
        _check_matchers([{"label": "service", "op": "=~", "value": pattern}])
        value = "a" * 5000 + "!" if "a" in pattern else "x" * 5000 + "!"
        assert not matches([{"label": "service", "op": "=~", "value": pattern}], {"service": value})

    @pytest.mark.parametrize("pattern", ["(a", "a{2,1}", r"(?=a)b", r"(a)\1"])
    def test_patterns_re2_cannot_run_are_refused(self, pattern: str) -> None:
        with pytest.raises(ValidationError, match=r"matchers\[0\]\.value"):
            _check_matchers([{"label": "service", "op": "=~", "value": pattern}])
