"""VictoriaMetrics adapter: writes with tenant labels, tenant-scoped queries and deletes.

Tenancy is enforced with `extra_label` only: VictoriaMetrics overrides a payload label of the same
name on import and ANDs the label into every selector of a query.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence

import httpx


class StoreUnavailableError(Exception):
    """VictoriaMetrics did not answer, answered too slowly, or failed (5xx)."""


class StoreRejectedError(Exception):
    """VictoriaMetrics refused the payload as malformed (4xx)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def tenant_labels(org_id: str, project_id: str) -> list[tuple[str, str]]:
    """The `extra_label` arguments that pin data and queries to one project of one org."""
    return [("extra_label", f"tenant={org_id}"), ("extra_label", f"project={project_id}")]


def tenant_matcher(org_id: str, project_id: str | None = None) -> str:
    """A series selector for everything of an org, or of one of its projects."""
    labels = f'tenant="{org_id}"' + (f',project="{project_id}"' if project_id else "")
    return "{" + labels + "}"


def _check(status: int, text: str, what: str = "metrics store") -> None:
    """Raise the store error an HTTP status means: 5xx unavailable, 4xx rejected."""
    if status >= 500:
        raise StoreUnavailableError(f"{what} answered {status}")
    if status >= 400:
        raise StoreRejectedError(text.strip()[:500] or f"HTTP {status}")


def _unreachable(exc: httpx.HTTPError) -> StoreUnavailableError:
    return StoreUnavailableError(f"{type(exc).__name__} talking to the metrics store")


async def _post(
    http: httpx.AsyncClient,
    url: str,
    params: list[tuple[str, str | int | float | bool | None]],
    body: bytes,
    headers: dict[str, str],
) -> None:
    try:
        response = await http.post(url, params=params, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
    _check(response.status_code, response.text)


async def import_prometheus(
    http: httpx.AsyncClient,
    write_url: str,
    body: bytes,
    labels: Iterable[tuple[str, str]],
    content_encoding: str | None = None,
) -> None:
    """Write Prometheus text exposition unchanged, with the tenant labels added."""
    headers = {"content-type": "text/plain"}
    if content_encoding:
        headers["content-encoding"] = content_encoding
    await _post(
        http, f"{write_url.rstrip('/')}/api/v1/import/prometheus", list(labels), body, headers
    )


async def remote_write(
    http: httpx.AsyncClient, write_url: str, body: bytes, labels: Iterable[tuple[str, str]]
) -> None:
    """Forward a snappy remote-write body unchanged, with the tenant labels added."""
    headers = {
        "content-type": "application/x-protobuf",
        "content-encoding": "snappy",
        "x-prometheus-remote-write-version": "0.1.0",
    }
    await _post(http, f"{write_url.rstrip('/')}/api/v1/write", [*labels], body, headers)


async def query(
    http: httpx.AsyncClient, read_url: str, path: str, form: Sequence[tuple[str, str]]
) -> httpx.Response:
    """Run a Prometheus API read (`query`, `series` …) with the arguments as a POST form."""
    try:
        return await http.post(f"{read_url.rstrip('/')}/api/v1/{path}", data=dict_of(form))
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc


def dict_of(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated form keys as httpx expects them."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


async def delete_series(http: httpx.AsyncClient, read_url: str, matcher: str) -> None:
    """Delete every series matching the selector on one tier (idempotent: none left is fine)."""
    try:
        response = await http.post(
            f"{read_url.rstrip('/')}/api/v1/admin/tsdb/delete_series", data={"match[]": matcher}
        )
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
    _check(response.status_code, response.text)


async def copy_native(
    http: httpx.AsyncClient,
    read_url: str,
    write_url: str,
    matcher: str,
    start: int,
    end: int | None = None,
) -> int:
    """Stream the series matching the selector from one store into another; bytes moved.

    `/api/v1/export/native` (from `start`, Unix seconds) is piped chunk by chunk into
    `/api/v1/import/native`, still compressed as the exporter sent it, so memory stays flat
    whatever the tenant's size. Importing the same samples twice stores them twice unless the
    target runs with `-dedup.minScrapeInterval` (the local launcher sets 1ms): then a retried
    copy is a no-op.
    """
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("match[]", matcher),
        ("start", start),
    ]
    if end is not None:
        params.append(("end", end))
    moved = 0
    try:
        async with http.stream(
            "GET",
            f"{read_url.rstrip('/')}/api/v1/export/native",
            params=params,
            headers={"accept-encoding": "gzip"},
        ) as exported:
            if exported.status_code >= 400:
                detail = (await exported.aread()).decode(errors="replace")
                _check(exported.status_code, detail, "metrics export")

            async def chunks() -> AsyncIterator[bytes]:
                nonlocal moved
                async for chunk in exported.aiter_raw():
                    moved += len(chunk)
                    yield chunk

            headers = {"content-type": "application/octet-stream"}
            encoding = exported.headers.get("content-encoding")
            if encoding:
                headers["content-encoding"] = encoding
            response = await http.post(
                f"{write_url.rstrip('/')}/api/v1/import/native", content=chunks(), headers=headers
            )
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
    _check(response.status_code, response.text, "metrics import")
    return moved


async def export_lines(
    http: httpx.AsyncClient, read_url: str, matcher: str
) -> AsyncGenerator[bytes, None]:
    """Every sample of the series matching the selector, as VictoriaMetrics' JSON lines export
    (`/api/v1/export`: one JSON object per line), streamed line by line without buffering."""
    try:
        async with http.stream(
            "GET", f"{read_url.rstrip('/')}/api/v1/export", params={"match[]": matcher}
        ) as response:
            if response.status_code >= 400:
                detail = (await response.aread()).decode(errors="replace")
                _check(response.status_code, detail, "metrics export")
            async for raw in response.aiter_lines():
                line = raw.strip()
                if line:
                    yield line.encode()
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
