"""What is billed for metrics is what VictoriaMetrics stores: every accepted Content-Encoding and
every shape of Prometheus text is sent through the gateway, then the store itself is asked how
many samples it holds for the project, and that must equal the usage metered as accepted."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import math
import re
import struct
import time
import zlib
from collections.abc import Callable

import cramjam
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from infra.local.victoriametrics import VmInstance
from infra.settings import Tier
from tests.support import gateway as gw
from tests.support.tenants import Tenant, sign_up
from tests.telemetry.decode.builders import rw_request, rw_series

TEXT = "prometheus/api/v1/import/prometheus"
_TIMESTAMPS = re.compile(r'"timestamps":(\[[^\]]*\])\}$')
PROBLEM = "application/problem+json"


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction for the module."""
    return module_client


@pytest.fixture(scope="module")
async def owner(module_client: httpx.AsyncClient) -> Tenant:
    """The org whose fresh projects the tests write to (free plan: the short tier)."""
    return await sign_up(module_client, "stored")


@pytest.fixture
def new_writer(client: httpx.AsyncClient, owner: Tenant) -> gw.NewWriter:
    return functools.partial(gw.project_writer, client, owner)


def short_tier(vm_stores: list[VmInstance]) -> VmInstance:
    return next(instance for instance in vm_stores if instance.tier is Tier.SHORT)


async def stored(vm: VmInstance, w: gw.Writer, expected: int) -> int:
    """Samples VictoriaMetrics holds for the writer's project (polled until `expected`, bounded)."""
    deadline = time.monotonic() + 5.0
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        while True:
            await http.get(f"{vm.url}/internal/force_flush")
            response = await http.post(
                f"{vm.url}/api/v1/export",
                data={"match[]": f'{{tenant="{w.org_id}",project="{w.project_id}"}}'},
            )
            response.raise_for_status()
            # `values` may hold +Inf, which is not JSON: count the timestamps.
            count = 0
            for line in filter(None, response.text.split("\n")):  # values may hold U+2028
                stamps = _TIMESTAMPS.search(line)
                assert stamps is not None, line
                count += len(json.loads(stamps.group(1)))
            if count >= expected or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.1)


async def billed(client: httpx.AsyncClient, w: gw.Writer) -> int:
    return (await gw.usage(client, w)).get("accepted", 0)


def now_ms(offset_s: float = -5.0) -> int:
    return int((time.time() + offset_s) * 1000)


def lines(metric: str, n: int) -> bytes:
    """`n` samples of distinct series (so deduplication keeps each), no timestamps."""
    return "".join(f'{metric}{{i="{i}"}} {i}\n' for i in range(n)).encode()


ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "GZIP": gzip.compress,
    "deflate": zlib.compress,
    "zstd": lambda body: bytes(cramjam.zstd.compress(body)),
    "gzip, gzip": lambda body: gzip.compress(gzip.compress(body)),
    "deflate, gzip": lambda body: gzip.compress(zlib.compress(body)),
    "identity": lambda body: body,
    "gzip, identity": gzip.compress,
}


class TestEveryEncodingIsStored:
    @pytest.mark.parametrize("encoding", list(ENCODINGS))
    async def test_billed_samples_are_the_stored_samples(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        encoding: str,
    ) -> None:
        w = await new_writer()
        body = ENCODINGS[encoding](lines(gw.unique_metric(), 5))
        response = await client.post(
            w.path(TEXT), content=body, headers=w.auth | {"content-encoding": encoding}
        )
        assert response.status_code == 204, response.text
        assert await stored(short_tier(vm_stores), w, 5) == await billed(client, w) == 5

    @pytest.mark.parametrize("encoding", ["br", "compress", "gzip;q=1", "snappy"])
    async def test_an_unknown_encoding_is_415_naming_the_header(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        encoding: str,
    ) -> None:
        w = await new_writer()
        response = await client.post(
            w.path(TEXT), content=b"a 1\n", headers=w.auth | {"content-encoding": encoding}
        )
        assert response.status_code == 415, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert "Content-Encoding" in response.json()["detail"]
        assert await billed(client, w) == 0

    async def test_remote_write_with_another_encoding_than_snappy_is_415(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        response = await client.post(
            w.path("prometheus/api/v1/write"),
            content=gzip.compress(gw.remote_write(gw.unique_metric())),
            headers=w.auth | {"content-encoding": "gzip"},
        )
        assert response.status_code == 415, response.text
        assert "Content-Encoding" in response.json()["detail"]


def shapes(m: str) -> dict[str, tuple[bytes, int]]:
    """Bodies that are accepted, with the number of samples VictoriaMetrics stores of each."""
    ts = now_ms()
    return {
        "help, type, comments, empty lines": (
            f"# HELP {m} help text\n# TYPE {m} gauge\n\n# free text {{ not a sample\n"
            f'{m}{{a="1"}} 1\n\n   \n{m}{{a="2"}} 2\n'.encode(),
            2,
        ),
        "crlf": (f'{m}{{a="1"}} 1\r\n\r\n{m}{{a="2"}} 2\r\n'.encode(), 2),
        "infinities": (f'{m}{{a="1"}} +Inf\n{m}{{a="2"}} -Inf\n{m}{{a="3"}} inf\n'.encode(), 3),
        "timestamps in milliseconds and seconds": (
            f'{m}{{a="1"}} 1 {ts}\n{m}{{a="2"}} 2 {ts // 1000}\n'.encode(),
            2,
        ),
        "escaped label values": (
            (m + '{a="back\\\\slash",b="quo\\"te",c="new\\nline",d="Z\u00fcrich"} 1\n').encode(),
            1,
        ),
        "colons, blanks and a trailing comma": (
            f'{m}:rate5m {{ a = "1" , }} 1\n\t{m}:sum  2   \n'.encode(),
            2,
        ),
        "a payload tenant label, twice": (
            f'{m}{{tenant="evil",tenant="evil2",project="x"}} 1\n'.encode(),
            1,
        ),
        "duplicate label names": (f'{m}{{a="1",a="2"}} 1\n'.encode(), 1),
        "a line of 200 KiB": (f'{m}{{a="{"x" * 200 * 1024}"}} 1\n'.encode(), 1),
        "no final newline": (f'{m}{{a="1"}} 1\n{m}{{a="2"}} 2'.encode(), 2),
    }


class TestEveryShapeIsStoredAsBilled:
    @pytest.mark.parametrize("shape", list(shapes("m")))
    async def test_billed_samples_are_the_stored_samples(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        shape: str,
    ) -> None:
        w = await new_writer()
        body, expected = shapes(gw.unique_metric())[shape]
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code == 204, response.text
        assert await stored(short_tier(vm_stores), w, expected) == expected
        assert await billed(client, w) == expected

    async def test_a_payload_cannot_set_the_tenant_or_project(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = f'{metric}{{tenant="evil",tenant="evil2",project="x"}} 1\n'.encode()
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code == 204, response.text
        result = await gw.wait_for(client, w, metric, vm_stores)
        assert [(s["metric"]["tenant"], s["metric"]["project"]) for s in result] == [
            (w.org_id, w.project_id)
        ]

    @pytest.mark.parametrize(
        ("body", "expected", "reason"),
        [
            (b'm{a="1"} NaN\nm{a="2"} 2\n', 1, "NaN"),
            (f'm{{a="1"}} 1 {now_ms(-30 * 86400)}\nm{{a="2"}} 2\n'.encode(), 1, "outside"),
            (f'm{{a="1"}} 1 {now_ms(3 * 86400)}\nm{{a="2"}} 2\n'.encode(), 1, "outside"),
            (b'm{a="1"} 1 1000\nm{a="2"} 2 -5\n', 0, "outside"),
        ],
        # Stable ids: the bodies carry the time of collection, and xdist workers collect apart.
        ids=["nan", "before-retention", "too-far-ahead", "epoch-and-negative"],
    )
    async def test_samples_the_store_would_drop_are_reported_and_not_billed(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        body: bytes,
        expected: int,
        reason: str,
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = body.replace(b"m{", metric.encode() + b"{")
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["accepted"] == expected
        assert answer["rejected"] == 2 - expected
        assert reason in answer["detail"]
        assert await stored(short_tier(vm_stores), w, expected) == expected
        usage = await gw.usage(client, w)
        assert usage.get("accepted", 0) == expected
        assert usage["invalid"] == 2 - expected

    @pytest.mark.parametrize(
        "line",
        [
            b"this is { not prometheus",
            b'u 1 # {trace_id="abc"} 2',  # an OpenMetrics exemplar: VictoriaMetrics misreads it
            b"bad-name 3",
            b"1abc 2",
            b'{__name__="m"} 1',
            b'm{__name__="other"} 1',
            b'm{__tenant="x"} 1',
            b"m .5",
            b"m 5.",
            b"m 0x10",
            b"m 1 1.5",
            b'm{a="unknown \\t escape"} 1',
            b'm{a="unterminated} 1',
            b'm{a="x" b="y"} 1',
            b"m",
            b"m 1 2 3",
            b'm{a="' + b"x" * (256 * 1024) + b'"} 1',
        ],
    )
    async def test_a_line_the_store_would_skip_or_misread_refuses_the_body(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, line: bytes
    ) -> None:
        w = await new_writer()
        body = b"ok_metric 1\n" + line + b"\nok_metric 2\n"
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["detail"].startswith("line 2: ")
        assert await gw.usage(client, w) == {}


STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


class TestOtherFormatsAreStoredAsBilled:
    async def test_remote_write_bills_only_what_the_store_keeps(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric, ts = gw.unique_metric(), now_ms()
        points = [
            (1.0, ts),
            (math.inf, ts),
            (STALE_NAN, ts),  # a staleness marker: stored
            (math.nan, ts),  # dropped by VictoriaMetrics
            (2.0, now_ms(-30 * 86400)),  # past the free plan's retention
            (3.0, 0),  # proto3 leaves the zero timestamp out
        ]
        raw = rw_request(
            rw_series({"__name__": metric, "i": str(i)}, [point]) for i, point in enumerate(points)
        )
        response = await client.post(
            w.path("prometheus/api/v1/write"),
            content=bytes(cramjam.snappy.compress_raw(raw)),
            headers=w.auth | {"content-encoding": "snappy"},
        )
        assert response.status_code == 204, response.text
        assert await stored(short_tier(vm_stores), w, 3) == 3
        assert await gw.usage(client, w) == {"accepted": 3, "invalid": 3}

    async def test_simple_json_points_the_store_would_drop_are_rejected(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = [
            {"metric_name": metric, "value": 1, "labels": {"a": "1"}},
            {"metric_name": metric, "value": 2, "labels": {"a": "2"}, "timestamp": 1},
        ]
        response = await client.post(w.path("ingest/metrics"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
        assert response.json()["rejected"] == 1
        assert await stored(short_tier(vm_stores), w, 1) == await billed(client, w) == 1

    async def test_otlp_points_the_store_would_drop_are_partial_success(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        request = gw.otlp_gauge(gw.unique_metric(), 3)
        points = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points
        points[1].as_double = math.nan
        points[2].time_unix_nano = now_ms(-30 * 86400) * 1_000_000
        response = await client.post(
            w.path("otlp/v1/metrics"),
            content=request.SerializeToString(),
            headers=w.auth | {"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_data_points == 2
        assert await stored(short_tier(vm_stores), w, 1) == await billed(client, w) == 1


# Label values VictoriaMetrics and Prometheus read alike: no backslash but the three escapes.
_VALUE_CHARS = st.characters(codec="utf-8", exclude_characters='\x00\n"\\')
_LABEL_VALUE = st.lists(
    st.one_of(
        st.text(_VALUE_CHARS, min_size=1, max_size=8), st.sampled_from(["\\\\", '\\"', "\\n"])
    ),
    min_size=1,
    max_size=4,
).map("".join)
_NUMBER = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False)
    .map(repr)
    .filter(lambda v: "e" in v or "." in v),
    st.sampled_from(["+Inf", "-Inf", "inf", "NaN"]),
)


@st.composite
def exposition(draw: st.DrawFn) -> tuple[list[str], int]:
    """Lines of distinct series (some NaN, some dated), comments and blanks; and how many of
    them VictoriaMetrics stores."""
    out, stored_count = [], 0
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["sample", "sample", "sample", "comment", "blank"]))
        if kind == "comment":
            out.append("# " + draw(st.text(_VALUE_CHARS, max_size=10)))
            continue
        if kind == "blank":
            out.append(draw(st.sampled_from(["", " ", "\t"])))
            continue
        value = draw(_NUMBER)
        labels = f'i="{i}",v="{draw(_LABEL_VALUE)}"'
        dated = draw(st.sampled_from(["no", "now", "past retention"]))
        stamp = {"no": "", "now": f" {now_ms()}", "past retention": f" {now_ms(-30 * 86400)}"}
        out.append(f"{draw(st.sampled_from(['', ' ']))}M{{{labels}}} {value}{stamp[dated]}")
        stored_count += value != "NaN" and dated != "past retention"
    return out, stored_count


class TestPropertyBilledIsStored:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=exposition(), crlf=st.booleans())
    async def test_any_accepted_body_bills_what_is_stored(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        case: tuple[list[str], int],
        crlf: bool,
    ) -> None:
        body_lines, expected = case
        w = await new_writer()
        metric = gw.unique_metric()
        body = ("\r\n" if crlf else "\n").join(body_lines).replace("M{", metric + "{").encode()
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code in (200, 204), response.text
        vm_count = await stored(short_tier(vm_stores), w, expected)
        assert vm_count == await billed(client, w) == expected
