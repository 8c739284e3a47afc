"""NUL in log and span text: replaced by U+FFFD in every string, keys included, before billing."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from telemetry.decode.normalize import REPLACEMENT, without_nul
from telemetry.documents import LogRecord, Span, SpanEvent, stored_size

TEXT = st.text(alphabet=st.sampled_from(["\x00", "a", "\\", "u", "0", "é", "\ufffd"]), max_size=8)
SCALARS = TEXT | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
ATTRIBUTES = st.dictionaries(TEXT, SCALARS | st.lists(TEXT, max_size=3), max_size=4)
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _log(body: str, service: str, attributes: dict[str, object]) -> LogRecord:
    return LogRecord(
        id="log_1",
        tenant="org_1",
        project="prj_1",
        time=AT,
        service=service,
        body=body,
        attributes=attributes,  # type: ignore[arg-type]
        resource={"service.name": service},
        scope=service or None,
    )


def _strings(value: object) -> list[str]:
    """Every string of a document, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _has_nul(document: object) -> bool:
    return any("\x00" in text for text in _strings(msgspec.to_builtins(document)))


class TestWithoutNul:
    @given(body=TEXT, service=TEXT, attributes=ATTRIBUTES)
    def test_no_nul_is_left_and_nothing_else_changes(
        self, body: str, service: str, attributes: dict[str, object]
    ) -> None:
        record = _log(body, service, attributes)
        [clean] = without_nul([record])
        assert not _has_nul(clean)
        assert clean.body == body.replace("\x00", REPLACEMENT)
        assert clean.service == service.replace("\x00", REPLACEMENT)
        expected = {
            key.replace("\x00", REPLACEMENT): value for key, value in record.attributes.items()
        }
        assert clean.attributes.keys() == expected.keys()
        if not _has_nul(record):
            assert clean is record  # untouched documents are not copied

    @given(body=TEXT)
    def test_what_is_billed_is_the_clean_document(self, body: str) -> None:
        record = _log(body, "svc", {})
        [clean] = without_nul([record])
        # Each NUL was billed as the 6 bytes of `\\u0000`; it is stored as the 3 of U+FFFD.
        assert stored_size(clean) == stored_size(record) - 3 * body.count("\x00")

    def test_spans_and_their_events_are_cleaned(self) -> None:
        span = Span(
            tenant="org_1",
            project="prj_1",
            trace_id="0" * 31 + "1",
            span_id="0" * 15 + "1",
            name="GET /\x00",
            service="s\x00",
            start_time=AT,
            end_time=AT,
            duration_ns=0,
            status_message="\x00",
            attributes={"k\x00": ["a\x00", 1]},
            events=[SpanEvent(time=AT, name="e\x00", attributes={"x": "\x00"})],
        )
        [clean] = without_nul([span])
        assert (clean.name, clean.service, clean.status_message) == (
            "GET /\ufffd",
            "s\ufffd",
            "\ufffd",
        )
        assert clean.attributes == {"k\ufffd": ["a\ufffd", 1]}
        assert clean.events[0].name == "e\ufffd"
        assert clean.events[0].attributes == {"x": "\ufffd"}

    def test_an_escaped_backslash_is_not_a_nul(self) -> None:
        record = _log("a\\u0000b", "svc", {})
        assert without_nul([record]) == [record]
