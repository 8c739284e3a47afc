"""Cursors: whatever a client sends is a position we handed out or a 400 naming `cursor`."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.cursors import (
    INT64_MAX,
    INT64_MIN,
    MAX_CURSOR_TEXT,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
    id_cursor,
)
from infra.ids import new_id

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)


def _forge(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


class TestOpaqueCursors:
    @given(
        micros=st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
        last_id=st.text(max_size=MAX_CURSOR_TEXT).filter(lambda t: "\x00" not in t),
    )
    def test_what_we_hand_out_decodes_to_itself(self, micros: int, last_id: str) -> None:
        assert decode_cursor(encode_cursor([micros, last_id]), (int, str)) == [micros, last_id]

    @given(cursor=st.text(max_size=600))
    def test_any_text_decodes_or_is_an_invalid_cursor(self, cursor: str) -> None:
        try:
            values = decode_cursor(cursor, (int, str))
        except InvalidCursorError as exc:
            refused = exc
        else:
            refused = None
        if refused is not None:
            assert refused.extra["field"] == "cursor"
            assert refused.status_code == 400
            return
        assert type(values[0]) is int
        assert INT64_MIN <= values[0] <= INT64_MAX
        assert isinstance(values[1], str)
        assert "\x00" not in values[1]

    @given(value=JSON)
    def test_any_forged_json_decodes_within_bounds_or_is_refused(self, value: object) -> None:
        try:
            values = decode_cursor(_forge(value), (int, str))
        except InvalidCursorError:
            return
        assert values == value

    @pytest.mark.parametrize(
        "value",
        [[10**30, "x"], [-(10**30), "x"], [1, "x\x00"], [True, "x"], [1.5, "x"], [1, "x" * 5000]],
    )
    def test_forged_positions_are_refused(self, value: object) -> None:
        with pytest.raises(InvalidCursorError):
            decode_cursor(_forge(value), (int, str))

    def test_a_400_digit_number_is_refused(self) -> None:
        raw = ("[" + "9" * 400 + ', "x"]').encode()
        cursor = base64.urlsafe_b64encode(raw).decode()
        with pytest.raises(InvalidCursorError):
            decode_cursor(cursor, (int, str))

    def test_a_huge_cursor_is_refused_before_decoding(self) -> None:
        with pytest.raises(InvalidCursorError):
            decode_cursor("A" * 100_000, (int, str))


class TestIdCursors:
    def test_an_id_of_the_kind_is_the_cursor(self) -> None:
        last = new_id("inv")
        assert id_cursor(last, "inv") == last
        assert id_cursor(None, "inv") is None

    @given(cursor=st.text(max_size=40))
    def test_anything_else_is_refused(self, cursor: str) -> None:
        try:
            accepted = id_cursor(cursor, "inv")
        except InvalidCursorError as exc:
            assert_field = exc.extra["field"]
            accepted = None
        else:
            assert_field = "cursor"
        assert assert_field == "cursor"
        if accepted is not None:
            assert accepted == cursor
            assert cursor.startswith("inv_")
            assert "\x00" not in cursor
