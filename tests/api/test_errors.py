"""Every error is RFC 9457 problem+json, with the request id, and never a stack trace."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import httpx
import msgspec
from litestar import get, post
from litestar.params import JSONBody

from api.app import create_app
from api.resources import Resources
from infra.errors import ConflictError
from tests.support.asgi import app_client


class Payload(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: int


@post("/_test/echo", sync_to_thread=False)
def echo(data: JSONBody[Payload]) -> Payload:
    return data


@get("/_test/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("secret internals /etc/passwd")


@get("/_test/conflict", sync_to_thread=False)
def conflict() -> None:
    raise ConflictError("that slug is taken", field="slug")


def _client_with_test_routes(
    resources: Resources,
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    app = create_app(resources=resources)
    for handler in (echo, boom, conflict):
        app.register(handler)
    return app_client(app)


class TestProblems:
    async def test_unknown_path_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/no/such/thing", headers={"x-request-id": "req-42"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 404
        assert {"type", "title", "detail"} <= body.keys()
        assert body["request_id"] == "req-42"
        assert response.headers["x-request-id"] == "req-42"

    async def test_wrong_method_is_a_405_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/health")
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"

    async def test_malformed_request_id_is_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"x-request-id": "bad id\twith junk"})
        assert response.headers["x-request-id"] != "bad id\twith junk"
        assert len(response.headers["x-request-id"]) == 16

    async def test_invalid_body_names_the_field(self, resources: Resources) -> None:
        async with _client_with_test_routes(resources) as client:
            response = await client.post("/_test/echo", json={"name": "x", "count": "many"})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid_request"
        assert "count" in body["detail"]

    async def test_unknown_field_is_rejected(self, resources: Resources) -> None:
        async with _client_with_test_routes(resources) as client:
            response = await client.post("/_test/echo", json={"name": "x", "count": 1, "x": 2})
        assert response.status_code == 400
        assert "x" in response.json()["detail"]

    async def test_domain_error_carries_status_code_and_extensions(
        self, resources: Resources
    ) -> None:
        async with _client_with_test_routes(resources) as client:
            response = await client.get("/_test/conflict")
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "conflict"
        assert body["type"].endswith("/conflict")
        assert body["field"] == "slug"

    async def test_unexpected_error_is_a_bare_500(self, resources: Resources) -> None:
        async with _client_with_test_routes(resources) as client:
            response = await client.get("/_test/boom")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "passwd" not in response.text
        assert "Traceback" not in response.text
