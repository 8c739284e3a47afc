"""The console's assets and page as the API serves them: caching, client-route fallback, and the
API's own paths never shadowed by the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.resources import Resources
from tests.support.asgi import app_client

INDEX = b'<!doctype html><div id="root"></div><script type="module" src="/assets/index-abc123.js">'
SCRIPT = b"console.log('console');" * 100
# What a browser sends when it navigates to a page.
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A console build as `npm run build` lays it out."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_bytes(SCRIPT)
    return tmp_path


async def _client(resources: Resources, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = resources.settings.model_copy(update={"console_dist": dist})
    async with app_client(create_app(resources=replace(resources, settings=settings))) as client:
        yield client


@pytest.fixture
async def console(resources: Resources, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(resources, dist):
        yield client


class TestBuiltConsole:
    async def test_hashed_assets_are_cached_for_a_year(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/assets/index-abc123.js")
        assert response.status_code == 200
        assert response.content == SCRIPT
        assert response.headers["content-type"].startswith("text/javascript")
        cache = {part.strip() for part in response.headers["cache-control"].split(",")}
        assert cache == {"public", "max-age=31536000", "immutable"}

    async def test_the_page_is_revalidated_on_every_load(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/", headers=BROWSER)
        assert response.status_code == 200
        assert response.content == INDEX
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    @pytest.mark.parametrize(
        "path", ["/login", "/orgs/acme/projects", "/orgs/acme/projects/prj_x/keys", "/signup?x=1"]
    )
    async def test_client_routes_get_the_page(self, console: httpx.AsyncClient, path: str) -> None:
        response = await console.get(path, headers=BROWSER)
        assert response.status_code == 200
        assert response.content == INDEX
        assert response.headers["cache-control"] == "no-cache"

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/nothing-here",
            "/v1",
            "/p/prj_nope/nothing",
            "/schema/nothing-here",
            "/share/abc",
            "/assets/missing-123.js",
            "/metrics/x",
        ],
    )
    async def test_api_paths_are_not_shadowed(self, console: httpx.AsyncClient, path: str) -> None:
        response = await console.get(path, headers=BROWSER)
        assert response.status_code == 404
        assert b'id="root"' not in response.content
        if not path.startswith("/schema"):  # the OpenAPI router answers its own 404s
            assert response.headers["content-type"].startswith("application/problem+json")

    @pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
    async def test_api_clients_keep_their_404_problem(
        self, console: httpx.AsyncClient, accept: str | None
    ) -> None:
        headers = {"accept": accept} if accept else {}
        response = await console.get("/no/such/thing", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_a_build_made_while_running_is_served(
        self, resources: Resources, tmp_path: Path
    ) -> None:
        async for client in _client(resources, tmp_path):
            assert (await client.get("/orgs/acme", headers=BROWSER)).status_code == 404
            (tmp_path / "assets").mkdir()
            (tmp_path / "index.html").write_bytes(INDEX)
            (tmp_path / "assets" / "index-abc123.js").write_bytes(SCRIPT)
            assert (await client.get("/orgs/acme", headers=BROWSER)).content == INDEX
            assert (await client.get("/assets/index-abc123.js")).content == SCRIPT

    async def test_api_routes_still_answer(self, console: httpx.AsyncClient) -> None:
        assert (await console.get("/health")).json() == {"status": "ok"}
        me = await console.get("/v1/me")
        assert me.status_code == 401
        assert me.headers["content-type"].startswith("application/problem+json")
        assert (await console.get("/schema/openapi.json")).status_code == 200
        # a known path with another method keeps its 405, the page does not catch it
        assert (await console.delete("/v1/auth/signup")).status_code == 405

    async def test_the_page_is_not_in_the_openapi_schema(self, console: httpx.AsyncClient) -> None:
        paths = (await console.get("/schema/openapi.json")).json()["paths"]
        assert "/" not in paths
        assert not [p for p in paths if "{path}" in p or p.startswith("/assets")]


class TestUnbuiltConsole:
    async def test_without_a_build_the_api_runs_and_says_so(
        self, resources: Resources, tmp_path: Path
    ) -> None:
        async for client in _client(resources, tmp_path / "absent"):
            assert (await client.get("/health")).status_code == 200
            page = await client.get("/orgs/acme", headers=BROWSER)
            assert page.status_code == 404
            assert b"console is not built" in page.content
            assert page.headers["content-type"].startswith("text/html")
            missing = await client.get("/v1/nothing-here")
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("application/problem+json")
