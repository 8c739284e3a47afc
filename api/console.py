"""The web console: its built assets at `/assets/*` and its HTML page for every client route.

Hashed assets never change under a name, so browsers keep them a year; `index.html` is revalidated
on every load so a deploy is picked up at once. Paths of the API itself are never answered with
the page: an unknown `/v1/...` stays a problem+json 404, as it was before the console existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from infra.errors import NotFoundError
from infra.settings import Settings

IMMUTABLE: Final = CacheControlHeader(public=True, max_age=31_536_000, immutable=True)
# The page's own security policy: scripts and styles only from this origin (Vite emits no inline
# script), API calls to this origin only, no framing.
PAGE_HEADERS: Final = {
    "cache-control": "no-cache",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
# First path segments the console never claims (the API, the data plane, ops endpoints).
RESERVED: Final = frozenset({"v1", "p", "schema", "health", "ready", "metrics", "share", "assets"})
NOT_BUILT: Final = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Console not built</title>"
    "<h1>The Tollgate console is not built</h1><p>Run <code>make run</code> (or "
    "<code>cd console &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload. "
    "The API is served under <code>/v1</code>; its schema is at <a href=/schema>/schema</a>.</p>"
)


def console_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    """The console's routes; without a build the page is a plain 404 saying so."""
    dist = Path(settings.console_dist)
    index = dist / "index.html"

    def serve(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
        first = path.lstrip("/").split("/", 1)[0]
        # API clients keep their problem+json 404 for unknown paths; browsers navigating ask
        # for text/html and get the page, whose client router shows its own not-found.
        if first in RESERVED or "text/html" not in request.headers.get("accept", ""):
            raise NotFoundError(f"No route {path}")
        if not index.is_file():
            return Response(
                NOT_BUILT.encode(),
                status_code=404,
                media_type=MediaType.HTML,
                headers={"cache-control": "no-store"},
            )
        # Read per request: a rebuild (new hashed names) is served without a restart, and the
        # file is a few hundred bytes.
        return Response(index.read_bytes(), media_type=MediaType.HTML, headers=PAGE_HEADERS)

    @get("/", include_in_schema=False, sync_to_thread=False)
    def home(request: Request[Any, Any, Any]) -> Response[bytes]:
        """The console's single page."""
        return serve(request, "/")

    @get("/{path:path}", include_in_schema=False, sync_to_thread=False)
    def page(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[bytes]:
        """The console's page for a client route outside the API's paths."""
        return serve(request, path)

    # Registered even before a build: `npm run build` while the API runs needs no restart.
    assets = create_static_files_router(
        path="/assets",
        directories=[dist / "assets"],
        cache_control=IMMUTABLE,
        name="console-assets",
        include_in_schema=False,
    )
    return [home, page, assets]
