"""Numbers in field values: only finite ones become JSON numbers jsonb can hold (`n:1e999`)."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.search.sql import json_candidates

NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,400})(\.[0-9]{1,5})?([eE][+-]?[0-9]{1,4})?", fullmatch=True
)


def _scalars(candidates: list[object]) -> list[object]:
    return [c[0] if isinstance(c, list) else c for c in candidates]


class TestJsonCandidates:
    @given(value=NUMBERS | st.text(max_size=20))
    def test_every_candidate_is_finite_json(self, value: str) -> None:
        candidates = json_candidates(value)
        assert candidates[0] == value
        for scalar in _scalars(candidates):
            if isinstance(scalar, float):
                assert math.isfinite(scalar)
        msgspec.json.encode(candidates)  # a non-finite float would raise

    @pytest.mark.parametrize("value", ["1e999", "9" * 400, "-1e400"])
    def test_numbers_beyond_a_double_match_as_text_only(self, value: str) -> None:
        assert json_candidates(value) == [value, [value]]

    def test_a_finite_number_still_matches_numbers(self) -> None:
        assert json_candidates("42") == ["42", 42, ["42"], [42]]
