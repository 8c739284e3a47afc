"""Bad input on the data plane is a 4xx naming the field, or stored in a form every store holds;
never a 5xx, and nothing is stored or metered for a refused request (issue 10, item 13)."""

from __future__ import annotations

import base64
import functools
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from telemetry.documents import LogRecord, stored_size
from tests.support import gateway as gw
from tests.support.tenants import Tenant, sign_up

PROBLEM = "application/problem+json"
PROTOBUF = "application/x-protobuf"
NUL = "\x00"
FFFD = "\ufffd"


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction for the module."""
    return module_client


@pytest.fixture(scope="module")
async def owner(module_client: httpx.AsyncClient) -> Tenant:
    """The org whose fresh projects the tests write to."""
    return await sign_up(module_client, "badinput")


@pytest.fixture(scope="module")
async def reader(module_client: httpx.AsyncClient, owner: Tenant) -> gw.Writer:
    """A key of the owner's default project that may read everything (and write logs)."""
    key = await module_client.post(
        f"/v1/projects/{owner.project_id}/keys",
        json={
            "name": "reader",
            "scopes": ["logs:read", "traces:read", "metrics:read", "logs:write"],
        },
        headers=owner.auth,
    )
    assert key.status_code == 201, key.text
    return gw.Writer(owner, key.json()["key"])


@pytest.fixture
def new_writer(client: httpx.AsyncClient, owner: Tenant) -> gw.NewWriter:
    """A new project of the shared org and a key of it."""
    return functools.partial(gw.project_writer, client, owner)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _problem(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    named = {body.get("field"), *(e.get("field") for e in body.get("errors", []))}
    assert field in named or field in body["detail"], body


async def _stored_logs(client: httpx.AsyncClient, w: gw.Writer) -> list[dict[str, Any]]:
    response = await client.post(w.path("logs/search"), json={}, headers=w.auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _no_nul(document: object) -> bool:
    return "\\u0000" not in json.dumps(document)  # json writes U+0000 as this escape


class TestNulInLogsAndSpans:
    """PostgreSQL text/jsonb can't hold U+0000: it is stored as U+FFFD in every store."""

    async def test_simple_json_log_with_nul_everywhere_is_stored_and_billed_as_stored(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = {
            "message": f"boom{NUL}here",
            "service_id": f"svc{NUL}1",
            "level": "error",
            "attributes": {f"k{NUL}ey": f"va{NUL}lue", "n": 1},
        }
        response = await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        [stored] = await _stored_logs(client, w)
        assert stored["body"] == f"boom{FFFD}here"
        assert stored["service"] == f"svc{FFFD}1"
        assert stored["attributes"][f"k{FFFD}ey"] == f"va{FFFD}lue"
        assert _no_nul(stored)
        used = await gw.usage(client, w, "logs")
        assert used == {"accepted": stored_size(msgspec.convert(stored, LogRecord))}

    async def test_otlp_protobuf_log_with_nul_body_and_service_name(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        record = logs_pb2.LogRecord(
            time_unix_nano=_ns(datetime.now(UTC)),
            body=AnyValue(string_value=f"a{NUL}b"),
            attributes=[_kv(f"x{NUL}", f"{NUL}")],
            severity_text=f"WARN{NUL}",
        )
        request = ExportLogsServiceRequest(
            resource_logs=[
                logs_pb2.ResourceLogs(
                    resource={"attributes": [_kv("service.name", f"api{NUL}")]},
                    scope_logs=[logs_pb2.ScopeLogs(log_records=[record])],
                )
            ]
        )
        response = await client.post(
            w.path("otlp/v1/logs"),
            content=request.SerializeToString(),
            headers={**w.auth, "content-type": PROTOBUF},
        )
        assert response.status_code == 200, response.text
        [stored] = await _stored_logs(client, w)
        assert stored["body"] == f"a{FFFD}b"
        assert stored["service"] == f"api{FFFD}"
        assert stored["attributes"] == {f"x{FFFD}": FFFD}
        used = await gw.usage(client, w, "logs")
        assert used == {"accepted": stored_size(msgspec.convert(stored, LogRecord))}

    async def test_otlp_json_log_with_nul(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "s\0"}}]
                    },
                    "scopeLogs": [
                        {
                            "scope": {"name": "lib\0"},
                            "logRecords": [
                                {
                                    "timeUnixNano": str(_ns(datetime.now(UTC))),
                                    "body": {"stringValue": "m\0"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        response = await client.post(w.path("otlp/v1/logs"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        [stored] = await _stored_logs(client, w)
        assert (stored["service"], stored["body"], stored["scope"]) == (
            f"s{FFFD}",
            f"m{FFFD}",
            f"lib{FFFD}",
        )

    async def test_spans_with_nul_in_name_service_and_attributes(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        trace_id, start = secrets.token_hex(16), datetime.now(UTC) - timedelta(seconds=1)
        span = trace_pb2.Span(
            trace_id=bytes.fromhex(trace_id),
            span_id=secrets.token_bytes(8),
            name=f"GET /{NUL}",
            start_time_unix_nano=_ns(start),
            end_time_unix_nano=_ns(start + timedelta(milliseconds=5)),
            attributes=[_kv(f"http{NUL}", f"x{NUL}")],
            events=[trace_pb2.Span.Event(time_unix_nano=_ns(start), name=f"e{NUL}")],
            status=trace_pb2.Status(code=2, message=f"bad{NUL}"),
        )
        request = ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(
                    resource={"attributes": [_kv("service.name", f"svc{NUL}")]},
                    scope_spans=[trace_pb2.ScopeSpans(spans=[span])],
                )
            ]
        )
        response = await client.post(
            w.path("otlp/v1/traces"),
            content=request.SerializeToString(),
            headers={**w.auth, "content-type": PROTOBUF},
        )
        assert response.status_code == 200, response.text
        found = await client.get(w.path(f"traces/{trace_id}"), headers=w.auth)
        assert found.status_code == 200, found.text
        [stored] = found.json()["spans"]
        assert stored["name"] == f"GET /{FFFD}"
        assert stored["service"] == f"svc{FFFD}"
        assert stored["attributes"] == {f"http{FFFD}": f"x{FFFD}"}
        assert stored["events"][0]["name"] == f"e{FFFD}"
        assert _no_nul(stored)
        assert (await gw.usage(client, w, "spans")) == {"accepted": 1}

    async def test_simple_span_with_nul(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = {
            "trace_id": secrets.token_hex(16),
            "trace_name": f"job{NUL}",
            "service_id": f"w{NUL}",
            "duration_ms": 3,
        }
        response = await client.post(w.path("ingest/spans"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        traces = await client.get(w.path("traces"), headers=w.auth)
        assert traces.status_code == 200, traces.text
        assert _no_nul(traces.json())
        assert (await gw.usage(client, w, "spans")) == {"accepted": 1}


class TestQueryParameters:
    """Times, numbers, cursors and lists a read takes: 4xx naming the field, never 5xx."""

    @pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
    @pytest.mark.parametrize("field", ["start", "end"])
    @pytest.mark.parametrize(
        "path", ["logs/stats", "logs/errors", "traces", "services", "topology"]
    )
    async def test_times_that_overflow_in_utc_are_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, path: str, field: str, moment: str
    ) -> None:
        w = reader
        response = await client.get(w.path(path), params={field: moment}, headers=w.auth)
        _problem(response, 422, field)

    @pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
    async def test_times_that_overflow_in_a_search_body_are_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, moment: str
    ) -> None:
        w = reader
        response = await client.post(w.path("logs/search"), json={"end": moment}, headers=w.auth)
        _problem(response, 422, "end")

    @pytest.mark.parametrize(
        ("path", "params", "field"),
        [
            ("logs/stats", {"bucket": "1e20"}, "bucket"),
            ("logs/stats", {"bucket": str(10**20)}, "bucket"),
            ("logs/stats", {"bucket": "0"}, "bucket"),
            ("traces", {"min_duration_ms": "1e300"}, "min_duration_ms"),
            ("traces", {"max_duration_ms": "3.6e67"}, "max_duration_ms"),
            ("traces", {"min_duration_ms": "nan"}, "min_duration_ms"),
            ("traces", {"min_duration_ms": "inf"}, "min_duration_ms"),
            ("traces", {"min_duration_ms": "-1"}, "min_duration_ms"),
            ("traces", {"limit": "9" * 400}, "limit"),
        ],
    )
    async def test_huge_or_non_finite_numbers_are_refused(
        self,
        client: httpx.AsyncClient,
        reader: gw.Writer,
        path: str,
        params: dict[str, str],
        field: str,
    ) -> None:
        w = reader
        response = await client.get(w.path(path), params=params, headers=w.auth)
        assert 400 <= response.status_code < 500, response.text
        _problem(response, response.status_code, field)

    @pytest.mark.parametrize("value", ["1e999", "9" * 400, "-1e400", "1e308"])
    async def test_numbers_in_the_query_language_never_fail_the_store(
        self, client: httpx.AsyncClient, reader: gw.Writer, value: str
    ) -> None:
        w = reader
        body = {"query": f"n:{value}"}
        response = await client.post(w.path("logs/search"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        stats = await client.get(w.path("logs/stats"), params=body, headers=w.auth)
        assert stats.status_code == 200, stats.text

    @pytest.mark.parametrize(
        "position",
        [
            [10**30, "log_x"],
            [-(10**30), "log_x"],
            [2**62, "log_x"],
            [1, "x\0"],
            [True, "log_x"],
            [1.5, "log_x"],
            [1, "x" * 5000],
            [[1], "x"],
        ],
    )
    @pytest.mark.parametrize("where", ["logs/search", "logs/errors", "traces"])
    async def test_forged_cursors_are_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, position: list[Any], where: str
    ) -> None:
        w = reader
        cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
        if where == "logs/search":
            response = await client.post(w.path(where), json={"cursor": cursor}, headers=w.auth)
        else:
            response = await client.get(w.path(where), params={"cursor": cursor}, headers=w.auth)
        _problem(response, 400, "cursor")

    @pytest.mark.parametrize("cursor", ["%%%", "e" * 100_000, "bnVsbA", "W10"])
    async def test_cursors_that_are_not_ours_are_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, cursor: str
    ) -> None:
        w = reader
        response = await client.post(w.path("logs/search"), json={"cursor": cursor}, headers=w.auth)
        _problem(response, 400, "cursor")

    @pytest.mark.parametrize(
        ("method", "path", "params"),
        [
            ("GET", "traces", {"service": "a\0b"}),
            ("GET", "traces", {"operation": "\0"}),
            ("GET", "logs/errors", {"service": "x\0"}),
            ("GET", "logs/stats", {"query": "\0"}),
            ("GET", "prometheus/api/v1/query", {"query": "up\0"}),
        ],
    )
    async def test_nul_in_a_query_parameter_is_refused(
        self,
        client: httpx.AsyncClient,
        reader: gw.Writer,
        method: str,
        path: str,
        params: dict[str, str],
    ) -> None:
        w = reader
        response = await client.request(method, w.path(path), params=params, headers=w.auth)
        _problem(response, 400, next(iter(params)))

    @pytest.mark.parametrize("path", ["traces/%00", "traces/ab%00cd/analysis", "logs%00/search"])
    async def test_an_id_with_nul_in_the_path_is_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, path: str
    ) -> None:
        w = reader
        response = await client.get(w.path(path), headers=w.auth)
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM

    async def test_a_project_id_with_nul_is_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer
    ) -> None:
        w = reader
        response = await client.post(
            f"/p/{w.project_id}%00/ingest/logs", json={"message": "m"}, headers=w.auth
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM
        assert not await gw.usage(client, w, "logs")

    @pytest.mark.parametrize("field", ["service", "level"])
    async def test_a_huge_filter_list_is_refused(
        self, client: httpx.AsyncClient, reader: gw.Writer, field: str
    ) -> None:
        w = reader
        body = {field: ["info"] * 100_000}
        response = await client.post(w.path("logs/search"), json=body, headers=w.auth)
        _problem(response, 400, field)


NUMBER_TEXT = (
    st.integers().map(str)
    | st.floats().map(repr)
    | st.from_regex(r"-?[0-9]{1,400}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)
    | st.text(max_size=12)
)
TIME_TEXT = st.datetimes(timezones=st.none() | st.timezones()).map(
    datetime.isoformat
) | st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([+-][0-9]{2}:[0-9]{2}|Z)?",
    fullmatch=True,
)


class TestReadParametersProperty:
    """Whatever a read's numbers and times are, the answer is a 2xx or a 4xx problem."""

    @settings(max_examples=40, deadline=None)
    @given(
        field=st.sampled_from(["bucket", "min_duration_ms", "max_duration_ms", "limit"]),
        number=NUMBER_TEXT,
        moment=TIME_TEXT,
    )
    async def test_numbers_and_times_never_get_a_server_error(
        self,
        module_client: httpx.AsyncClient,
        reader: gw.Writer,
        field: str,
        number: str,
        moment: str,
    ) -> None:
        path = "logs/stats" if field == "bucket" else "traces"
        params = {field: number, "start": moment}
        response = await module_client.get(reader.path(path), params=params, headers=reader.auth)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM
