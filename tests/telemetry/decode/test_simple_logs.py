"""The simple JSON log and span bodies, including the original Observatory examples."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.errors import DecodeError, PayloadError
from telemetry.decode.simple_logs import decode_simple_logs, decode_simple_spans
from telemetry.documents import LogRecord, Span

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
TRACE_UUID = "8f0c2b5e-3d4a-4c1b-9e2f-0a1b2c3d4e5f"
TRACE_HEX = "8f0c2b5e3d4a4c1b9e2f0a1b2c3d4e5f"


def logs(body: object) -> list[LogRecord]:
    return decode_simple_logs(json.dumps(body).encode(), tenant="org_1", project="prj_1", now=NOW)


def spans(body: object) -> list[Span]:
    return decode_simple_spans(json.dumps(body).encode(), tenant="org_1", project="prj_1", now=NOW)


class TestSimpleLogs:
    def test_the_original_example(self) -> None:
        (stored,) = logs(
            {
                "service_id": "svc-42",
                "level": "INFO",
                "message": "User login successful",
                "trace_id": TRACE_UUID,
                "attributes": {"user_id": "123", "ip": "192.168.1.1"},
            }
        )
        assert stored.id.startswith("log_")
        assert msgspec.structs.replace(stored, id="") == LogRecord(
            id="",
            tenant="org_1",
            project="prj_1",
            time=NOW,
            service="svc-42",
            level="INFO",
            severity_number=9,
            body="User login successful",
            trace_id=TRACE_HEX,
            attributes={"user_id": "123", "ip": "192.168.1.1"},
        )

    def test_an_array_keeps_its_order_with_distinct_ids(self) -> None:
        stored = logs([{"message": "a"}, {"message": "b", "service_id": 7}])
        assert [(one.body, one.service) for one in stored] == [("a", "unknown"), ("b", "7")]
        assert stored[0].id < stored[1].id

    @pytest.mark.parametrize(
        ("level", "expected", "number"),
        [
            ("warning", "WARN", 13),
            ("Warn", "WARN", 13),
            ("error", "ERROR", 17),
            ("critical", "FATAL", 21),
            ("debug", "DEBUG", 5),
            ("TRACE", "TRACE", 1),
        ],
    )
    def test_level_in_any_case(self, level: str, expected: str, number: int) -> None:
        (stored,) = logs({"message": "m", "level": level})
        assert (stored.level, stored.severity_number) == (expected, number)

    def test_unknown_level_names_the_field(self) -> None:
        with pytest.raises(DecodeError, match=r"level 'LOUD' .* at `\$\[1\]\.level`"):
            logs([{"message": "m"}, {"message": "m", "level": "LOUD"}])

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("2023-11-14T22:13:20Z", T0),
            ("2023-11-15T00:13:20+02:00", T0),
            (1_700_000_000, T0),
            (1_700_000_000.5, T0 + timedelta(milliseconds=500)),
            (1_700_000_000_250, T0 + timedelta(milliseconds=250)),
            (1_700_000_000.123456, T0 + timedelta(microseconds=123456)),
            (1_700_000_000_123_456, T0 + timedelta(microseconds=123456)),
            (1_700_000_000_123_456_789, T0 + timedelta(microseconds=123456)),
        ],
    )
    def test_timestamp(self, timestamp: object, expected: datetime) -> None:
        (stored,) = logs({"message": "m", "timestamp": timestamp})
        assert stored.time == expected

    @pytest.mark.parametrize("timestamp", ["2023-11-14T22:13:20", -1, "yesterday"])
    def test_timestamp_without_zone_or_negative_is_refused(self, timestamp: object) -> None:
        with pytest.raises(DecodeError, match=r"timestamp"):
            logs({"message": "m", "timestamp": timestamp})

    def test_ids_are_normalized(self) -> None:
        (stored,) = logs(
            {"message": "m", "trace_id": TRACE_HEX.upper(), "span_id": "00F067AA0BA902B7"}
        )
        assert (stored.trace_id, stored.span_id) == (TRACE_HEX, "00f067aa0ba902b7")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("trace_id", "not-a-uuid"),
            ("trace_id", "0" * 32),
            ("trace_id", "g" * 32),
            ("span_id", "abc"),
            ("span_id", "0" * 16),
        ],
    )
    def test_bad_ids_name_the_field(self, field: str, value: str) -> None:
        with pytest.raises(DecodeError, match=rf"at `\$\.{field}`"):
            logs({"message": "m", field: value})

    def test_unknown_field_is_refused_with_its_index(self) -> None:
        with pytest.raises(DecodeError, match=r"unknown field `lvl` - at `\$\[1\]`"):
            logs([{"message": "ok"}, {"message": "m", "lvl": "INFO"}])

    def test_message_is_required(self) -> None:
        with pytest.raises(DecodeError, match=r"missing required field `message`"):
            logs({"level": "INFO"})

    def test_attributes_must_be_scalars(self) -> None:
        (stored,) = logs({"message": "m", "attributes": {"n": 1, "ok": True, "x": None}})
        assert stored.attributes == {"n": 1, "ok": True, "x": None}
        with pytest.raises(DecodeError, match=r"\$\.attributes"):
            logs({"message": "m", "attributes": {"nested": {"a": 1}}})

    def test_tenant_attribute_is_only_an_attribute(self) -> None:
        (stored,) = logs({"message": "m", "attributes": {"tenant": "org_evil"}})
        assert (stored.tenant, stored.attributes) == ("org_1", {"tenant": "org_evil"})


class TestSimpleSpans:
    def test_the_original_trace_example(self) -> None:
        (stored,) = spans(
            {
                "service_id": "svc-42",
                "trace_id": TRACE_UUID,
                "trace_name": "GET /api/users",
                "start_time": "2023-11-14T22:13:20.123456",  # datetime.utcnow().isoformat()
                "http_method": "GET",
                "http_url": "/api/users",
                "http_status_code": 200,
            }
        )
        start = T0 + timedelta(microseconds=123456)
        assert len(stored.span_id) == 16
        assert stored == Span(
            tenant="org_1",
            project="prj_1",
            trace_id=TRACE_HEX,
            span_id=stored.span_id,
            name="GET /api/users",
            service="svc-42",
            start_time=start,
            end_time=start,
            duration_ns=0,
            attributes={
                "http.method": "GET",
                "http.url": "/api/users",
                "http.status_code": 200,
            },
        )
        assert stored.is_root

    def test_generated_span_ids_differ(self) -> None:
        first, second = spans([{"trace_id": TRACE_HEX, "name": "a"}] * 2)
        assert first.span_id != second.span_id
        assert first.start_time == NOW

    def test_every_field(self) -> None:
        (stored,) = spans(
            {
                "trace_id": TRACE_HEX,
                "span_id": "00f067aa0ba902b7",
                "parent_span_id": "53995c3f42cd8ad8",
                "name": "SELECT",
                "kind": "Client",
                "status": "ERROR",
                "status_message": "deadlock",
                "start_time": 1_700_000_000_000,
                "duration_ms": 12.5,
                "attributes": {"db.system": "postgresql"},
            }
        )
        assert (stored.kind, stored.status, stored.status_message) == (
            "client",
            "error",
            "deadlock",
        )
        assert (stored.parent_span_id, stored.start_time) == ("53995c3f42cd8ad8", T0)
        assert stored.duration_ns == 12_500_000
        assert stored.end_time == T0 + timedelta(microseconds=12500)

    def test_end_time_gives_the_duration(self) -> None:
        (stored,) = spans(
            {
                "trace_id": TRACE_HEX,
                "name": "n",
                "start_time": "2023-11-14T22:13:20Z",
                "end_time": "2023-11-14T22:13:21.5Z",
            }
        )
        assert stored.duration_ns == 1_500_000_000

    @pytest.mark.parametrize(
        ("code", "status"), [(200, "unset"), (404, "unset"), (500, "error"), (503, "error")]
    )
    def test_http_status_code_5xx_is_an_error(self, code: int, status: str) -> None:
        (stored,) = spans({"trace_id": TRACE_HEX, "name": "n", "http_status_code": code})
        assert stored.status == status

    def test_explicit_status_wins_over_http_status(self) -> None:
        sent = {"trace_id": TRACE_HEX, "name": "n", "http_status_code": 503, "status": "ok"}
        assert spans(sent)[0].status == "ok"

    @pytest.mark.parametrize(
        ("extra", "match"),
        [
            ({}, r"missing required field `name`"),
            ({"name": "a", "trace_name": "b"}, r"not both"),
            ({"name": "a", "end_time": 1, "duration_ms": 1}, r"not both"),
            ({"name": "a", "start_time": 2, "end_time": 1}, r"end_time is before start_time"),
            ({"name": "a", "duration_ms": -1}, r"duration_ms"),
            ({"name": "a", "duration_ms": 1e300}, r"duration_ms"),
            ({"name": "a", "kind": "sideways"}, r"kind 'sideways' .* at `\$\.kind`"),
            ({"name": "a", "status": "meh"}, r"status 'meh' .* at `\$\.status`"),
            ({"name": "a", "parent_span_id": "xyz"}, r"at `\$\.parent_span_id`"),
            ({"name": "a", "start_time": "9999-12-31T00:00:00Z"}, r"start_time"),
            ({"name": "a", "user_id": 1}, r"unknown field `user_id`"),
        ],
    )
    def test_invalid_spans_are_refused(self, extra: dict[str, object], match: str) -> None:
        with pytest.raises(DecodeError, match=match):
            spans({"trace_id": TRACE_HEX, **extra})

    def test_trace_id_is_required(self) -> None:
        with pytest.raises(DecodeError, match=r"missing required field `trace_id`"):
            spans({"name": "a"})

    @pytest.mark.parametrize("trace_id", [TRACE_UUID, str(uuid.UUID(TRACE_UUID).urn), TRACE_HEX])
    def test_uuid_forms_become_32_hex(self, trace_id: str) -> None:
        assert spans({"trace_id": trace_id, "name": "n"})[0].trace_id == TRACE_HEX


SIMPLE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from([TRACE_UUID, TRACE_HEX, "00f067aa0ba902b7", "2023-11-14T22:13:20Z"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
LOG_FIELDS = ["message", "level", "trace_id", "span_id", "attributes", "service_id", "timestamp"]
SPAN_FIELDS = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "trace_name",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "kind",
    "attributes",
    "http_status_code",
]
FIELD_NAMES = st.sampled_from(sorted({*LOG_FIELDS, *SPAN_FIELDS})) | st.text(max_size=5)


VALID_LOGS = st.fixed_dictionaries(
    {"message": st.text(max_size=20)},
    optional={
        "level": st.sampled_from(["info", "WARNING", "Error", "debug", "fatal", "trace"]),
        # Never all zeros, which is refused.
        "trace_id": st.uuids().map(str)
        | st.binary(min_size=16, max_size=16).filter(any).map(bytes.hex),
        "attributes": st.dictionaries(
            st.text(max_size=8), st.text(max_size=8) | st.integers() | st.booleans(), max_size=3
        ),
        "service_id": st.text(min_size=1, max_size=8) | st.integers(0, 10**6),
        "timestamp": st.one_of(  # seconds, ms, µs or ns, up to 2262
            st.integers(0, 9 * 10**9),
            st.integers(10**11, 9 * 10**12),
            st.integers(10**14, 9 * 10**15),
            st.integers(10**17, 9 * 10**18),
        ),
    },
)


class TestSimpleFuzz:
    @settings(max_examples=100, deadline=None)
    @given(objects=st.lists(VALID_LOGS, max_size=5))
    def test_valid_logs_give_one_record_each(self, objects: list[dict[str, object]]) -> None:
        stored = logs(objects)
        assert [one.body for one in stored] == [one["message"] for one in objects]
        for one, sent in zip(stored, objects, strict=True):
            assert one.level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
            assert one.trace_id is None or len(one.trace_id) == 32
            assert one.service == str(sent.get("service_id", "")) or "unknown"

    @settings(max_examples=200, deadline=None)
    @given(body=st.binary(max_size=256))
    def test_random_bytes_raise_only_payload_errors(self, body: bytes) -> None:
        for decode in (decode_simple_logs, decode_simple_spans):
            with contextlib.suppress(PayloadError):
                decode(body, tenant="t", project="p", now=NOW)

    @settings(max_examples=150, deadline=None)
    @given(
        objects=st.lists(st.dictionaries(FIELD_NAMES, SIMPLE_VALUES, max_size=5), max_size=3),
        single=st.booleans(),
    )
    def test_random_objects_raise_only_payload_errors(
        self, objects: list[dict[str, object]], single: bool
    ) -> None:
        body = json.dumps(objects[0] if single and objects else objects).encode()
        try:
            records = decode_simple_logs(body, tenant="t", project="p", now=NOW)
        except PayloadError:
            pass
        else:
            for stored in records:
                assert msgspec.json.decode(msgspec.json.encode(stored), type=LogRecord) == stored
        try:
            decoded = decode_simple_spans(body, tenant="t", project="p", now=NOW)
        except PayloadError:
            pass
        else:
            for span in decoded:
                assert span.duration_ns >= 0
                assert msgspec.json.decode(msgspec.json.encode(span), type=Span) == span


class TestSimpleLogIds:
    def test_dated_records_resent_get_the_same_ids(self) -> None:
        body = json.dumps([{"message": "a", "timestamp": "2026-01-02T03:00:00Z"}]).encode()
        first = decode_simple_logs(body, tenant="org_1", project="prj_1", now=NOW)
        later = decode_simple_logs(
            body, tenant="org_1", project="prj_1", now=NOW + timedelta(seconds=5)
        )
        assert [r.id for r in first] == [r.id for r in later]

    def test_records_dated_by_their_receipt_are_new_events_each_time(self) -> None:
        body = json.dumps({"message": "user logged in"}).encode()
        first = decode_simple_logs(body, tenant="org_1", project="prj_1", now=NOW)
        later = decode_simple_logs(
            body, tenant="org_1", project="prj_1", now=NOW + timedelta(seconds=1)
        )
        assert first[0].id != later[0].id
