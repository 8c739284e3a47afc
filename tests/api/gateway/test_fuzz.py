"""Fuzzing the data plane: arbitrary bytes and mutated valid payloads at every ingest endpoint,
with every content type and encoding, and arbitrary query arguments, never make it fail (5xx)."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from urllib.parse import quote

import cramjam
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import gateway as gw

PATHS = [
    "prometheus/api/v1/import/prometheus",
    "prometheus/api/v1/write",
    "otlp/v1/metrics",
    "ingest/metrics",
]
CONTENT_TYPES = [
    None,
    "text/plain",
    "text/plain; version=0.0.4",
    "application/x-protobuf",
    "application/protobuf",
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "garbage/;;;",
]
ENCODINGS = [
    None,
    "gzip",
    "x-gzip",
    "deflate",
    "zstd",
    "snappy",
    "identity",
    "gzip, gzip",
    "gzip, deflate, zstd",
    "br",
    " ,",
    "GZIP",
]
FUZZ = settings(
    max_examples=int(os.environ.get("TOLLGATE_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def encode(body: bytes, encoding: str | None) -> bytes:
    """Apply a Content-Encoding when we know how (a lie is fine too: that is fuzzing)."""
    if encoding in ("gzip", "x-gzip", "GZIP"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "zstd":
        return bytes(cramjam.zstd.compress(body))
    return body


def seeds() -> list[tuple[str, str, bytes]]:
    """Valid payloads of every endpoint: what mutations start from."""
    metric = "fuzz_metric"
    otlp = gw.otlp_gauge(metric, 3, resource={"service.name": "fuzz"})
    return [
        (PATHS[0], "text/plain", gw.prom_text(metric, 3) + b"# HELP x y\n# TYPE x gauge\n"),
        (PATHS[1], gw.PROTOBUF, gw.remote_write(metric, 3)),
        (PATHS[2], gw.PROTOBUF, otlp.SerializeToString()),
        (PATHS[2], "application/json", gw.otlp_json(otlp)),
        (PATHS[3], "application/json", json.dumps(gw.simple_json(metric, 3)).encode()),
        (PATHS[3], "application/json", json.dumps(gw.simple_json(metric)[0]).encode()),
    ]


SEEDS = seeds()


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """A few byte-level mutations: flips, deletions, insertions, truncation, duplication."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate", "set"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate" and data:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif op == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x0A, 0x7B, 0x22, 0xFF, 0x80, 0x20]))
    return bytes(data)


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction (and one tenant) for the module."""
    return module_client


@pytest.fixture(scope="module")
async def fuzz_writer(module_client: httpx.AsyncClient) -> gw.Writer:
    """A tenant whose limits never get in the way of fuzzing."""
    w = await gw.writer(module_client, "fuzz")
    await gw.set_overrides(module_client, w.org_id, included=10**12, rate=10**9, burst=10**10)
    return w


async def post(
    client: httpx.AsyncClient,
    w: gw.Writer,
    path: str,
    body: bytes,
    content_type: str | None,
    encoding: str | None,
) -> httpx.Response:
    headers = dict(w.auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return await client.post(w.path(path), content=body, headers=headers)


def assert_handled(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"]


class TestArbitraryBytes:
    @pytest.mark.parametrize("path", PATHS)
    @FUZZ
    @given(
        body=st.binary(max_size=4096),
        content_type=st.sampled_from(CONTENT_TYPES),
        encoding=st.sampled_from(ENCODINGS),
        compress=st.booleans(),
    )
    async def test_never_a_server_error(
        self,
        client: httpx.AsyncClient,
        fuzz_writer: gw.Writer,
        path: str,
        body: bytes,
        content_type: str | None,
        encoding: str | None,
        compress: bool,
    ) -> None:
        if compress:
            body = encode(body, encoding)

        response = await post(client, fuzz_writer, path, body, content_type, encoding)

        assert_handled(response)


class TestMutatedPayloads:
    @FUZZ
    @given(data=st.data())
    async def test_never_a_server_error(
        self, client: httpx.AsyncClient, fuzz_writer: gw.Writer, data: st.DataObject
    ) -> None:
        path, seed_type, seed = data.draw(st.sampled_from(SEEDS))
        body = data.draw(mutated(seed))
        content_type: str | None = seed_type
        if data.draw(st.booleans()):
            content_type = data.draw(st.sampled_from(CONTENT_TYPES))
        encoding = data.draw(st.sampled_from([None, "gzip", "deflate", "zstd"]))
        if path.endswith("/write") and data.draw(st.booleans()):
            # A valid snappy block around a mutated WriteRequest reaches the protobuf parser.
            body = bytes(cramjam.snappy.compress_raw(data.draw(mutated(snappy_raw(seed)))))

        response = await post(
            client, fuzz_writer, path, encode(body, encoding), content_type, encoding
        )

        assert_handled(response)

    async def test_the_seeds_themselves_are_accepted(
        self, client: httpx.AsyncClient, fuzz_writer: gw.Writer
    ) -> None:
        for path, content_type, body in SEEDS:
            response = await post(client, fuzz_writer, path, body, content_type, None)
            assert response.status_code in (200, 204), (path, response.text)


def snappy_raw(body: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(body))


QUERY_PATHS = [
    "prometheus/api/v1/query",
    "prometheus/api/v1/query_range",
    "prometheus/api/v1/series",
    "prometheus/api/v1/labels",
    "prometheus/api/v1/label/__name__/values",
]


class TestQueryArguments:
    @FUZZ
    @given(
        path=st.sampled_from(QUERY_PATHS),
        raw=st.binary(max_size=512),
        form=st.binary(max_size=512),
        promql=st.text(max_size=200),
    )
    async def test_never_a_server_error(
        self,
        client: httpx.AsyncClient,
        fuzz_writer: gw.Writer,
        path: str,
        raw: bytes,
        form: bytes,
        promql: str,
    ) -> None:
        url = fuzz_writer.path(path)
        answers = [
            await client.get(url + "?" + quote(raw, safe="=&%+;[]{}~"), headers=fuzz_writer.auth),
            await client.post(
                url,
                content=form,
                headers={**fuzz_writer.auth, "Content-Type": "application/x-www-form-urlencoded"},
            ),
            await client.get(
                url,
                params={"query": promql, "match[]": promql, "start": promql[:20]},
                headers=fuzz_writer.auth,
            ),
        ]

        for response in answers:
            assert response.status_code < 500, response.text
