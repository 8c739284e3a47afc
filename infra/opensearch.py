"""OpenSearch adapter: index templates, daily index names, bulk writes, searches, deletes.

Domain-agnostic: documents and query clauses are plain dicts built by
`telemetry.search.opensearch`. Indices are `<prefix>logs-<tier>-YYYY.MM.DD` and
`<prefix>spans-<tier>-YYYY.MM.DD` (UTC days); composable templates (installed once per process,
before the first write) give them strict mappings, so a document can never add a field.

Ingest writes use `create` (a document id already stored is a 409 conflict, counted as a
duplicate, never overwritten); tier moves use `index`. Writes are acknowledged when OpenSearch
has them in its translog on every active copy (durable), and become searchable at the next
refresh (`refresh_interval`, 1 s) unless the adapter was built with `refresh="wait_for"`. Every
call has an explicit timeout; transport failures, timeouts, 429 and 5xx answers raise
`UnavailableError` (503 with Retry-After) so callers refund and retry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

import msgspec
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

from infra.errors import UnavailableError

Kind = Literal["logs", "spans"]
Refresh = Literal["false", "wait_for", "true"]

_PREFIX = re.compile(r"[a-z0-9][a-z0-9_\-]*\Z")
_DAY_SUFFIX = re.compile(r"-(\d{4})\.(\d{2})\.(\d{2})\Z")
_encode = msgspec.json.Encoder().encode
TIERS: Final = ("short", "standard", "long")
DELETE_TIMEOUT: Final = 300.0

_KEYWORD = {"type": "keyword"}
_FLAT = {"type": "flat_object"}
MAPPINGS: Final[dict[Kind, dict[str, Any]]] = {
    "logs": {
        "dynamic": "strict",
        "properties": {
            "tenant": _KEYWORD,
            "project": _KEYWORD,
            "id": _KEYWORD,
            "time": {"type": "date_nanos"},
            "observed_time": {"type": "date_nanos", "index": False},
            "service": _KEYWORD,
            "level": _KEYWORD,
            "severity_number": {"type": "short"},
            "body": {"type": "text"},
            "trace_id": _KEYWORD,
            "span_id": _KEYWORD,
            "attributes": _FLAT,
            "resource": _FLAT,
            "scope": _KEYWORD,
        },
    },
    "spans": {
        "dynamic": "strict",
        "properties": {
            "tenant": _KEYWORD,
            "project": _KEYWORD,
            "trace_id": _KEYWORD,
            "span_id": _KEYWORD,
            "parent_span_id": _KEYWORD,
            "root": {"type": "byte"},
            "name": _KEYWORD,
            "service": _KEYWORD,
            "kind": _KEYWORD,
            "start_time": {"type": "date_nanos"},
            "end_time": {"type": "date_nanos"},
            "start_us": {"type": "long"},
            "end_us": {"type": "long"},
            "duration_ns": {"type": "long"},
            "status": _KEYWORD,
            "status_message": {"type": "text"},
            "attributes": _FLAT,
            "resource": _FLAT,
            "events": {"type": "object", "enabled": False},
            "scope": _KEYWORD,
        },
    },
}


def _unavailable(exc: Exception) -> UnavailableError:
    return UnavailableError(
        f"log store unavailable: {type(exc).__name__}", headers={"Retry-After": "2"}
    )


class OpenSearchIndices:
    """One OpenSearch cluster holding the daily log and span indices of every tier."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        request_timeout: float = 10.0,
        shards: int = 1,
        replicas: int = 1,
        refresh: Refresh = "false",
    ) -> None:
        if prefix and not _PREFIX.match(prefix):
            raise ValueError(f"index prefix {prefix!r}: use lower-case letters, digits, - and _")
        self.prefix = prefix
        self._timeout = request_timeout
        self._shards = shards
        self._replicas = replicas
        self._refresh = refresh
        self._client = AsyncOpenSearch(
            hosts=[url], request_timeout=request_timeout, max_retries=1, retry_on_timeout=False
        )
        self._templates_ready = False
        self._templates_lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.close()

    # -- names --------------------------------------------------------------------------------

    def index(self, kind: Kind, tier: str, day: date) -> str:
        """The daily index of a kind and tier."""
        return f"{self.prefix}{kind}-{tier}-{day:%Y.%m.%d}"

    def pattern(self, kind: Kind, tier: str | None = None) -> str:
        """The wildcard matching every daily index of a kind (and tier)."""
        return f"{self.prefix}{kind}-{tier}-*" if tier else f"{self.prefix}{kind}-*"

    def in_tier(self, index: str, tier: str) -> str:
        """The same kind and day's index in another tier (`logs-short-D` → `logs-long-D`)."""
        match = _DAY_SUFFIX.search(index)
        for kind in MAPPINGS:
            if match and index.startswith(f"{self.prefix}{kind}-"):
                return self.index(kind, tier, date(*(int(part) for part in match.groups())))
        raise ValueError(f"{index!r} is not a daily index of this store")

    def indices_between(self, kind: Kind, tier: str, start: datetime, end: datetime) -> list[str]:
        """The daily indices that can hold documents in `[start, end)` (UTC days)."""
        first = start.astimezone(UTC).date()
        last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
        days = (last - first).days + 1
        return [self.index(kind, tier, first + timedelta(days=n)) for n in range(max(days, 0))]

    # -- setup --------------------------------------------------------------------------------

    async def ensure_templates(self) -> None:
        """Install the component and index templates once per process (idempotent)."""
        if self._templates_ready:
            return
        async with self._templates_lock:
            if self._templates_ready:
                return
            settings = {
                "number_of_shards": self._shards,
                "number_of_replicas": self._replicas,
                "refresh_interval": "1s",
            }
            try:
                for kind, mappings in MAPPINGS.items():
                    component = f"{self.prefix}tollgate-{kind}"
                    await self._client.cluster.put_component_template(
                        name=component,
                        body={"template": {"settings": settings, "mappings": mappings}},
                    )
                    for tier in TIERS:
                        await self._client.indices.put_index_template(
                            name=f"{self.prefix}tollgate-{kind}-{tier}",
                            body={
                                "index_patterns": [self.pattern(kind, tier)],
                                "composed_of": [component],
                                "priority": 200,
                            },
                        )
            except (TransportConnectionError, TransportError) as exc:
                raise _unavailable(exc) from exc
            self._templates_ready = True

    # -- data ---------------------------------------------------------------------------------

    async def bulk_index(self, documents: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Index (index, id, document) triples; an existing id is overwritten (retry-safe)."""
        await self._bulk("index", documents)

    async def bulk_create(self, documents: Sequence[tuple[str, str, dict[str, Any]]]) -> list[bool]:
        """Create (index, id, document) triples; an id already stored is left as it was.

        Returns, per triple, whether this call created it: a retried write conflicts (409) on
        every document it had stored, which is what tells the caller not to bill it again.
        """
        return await self._bulk("create", documents)

    async def _bulk(
        self, action: Literal["index", "create"], documents: Sequence[tuple[str, str, Any]]
    ) -> list[bool]:
        if not documents:
            return []
        await self.ensure_templates()
        lines: list[bytes] = []
        for index, doc_id, document in documents:
            lines.append(_encode({action: {"_index": index, "_id": doc_id}}))
            lines.append(_encode(document))
        payload = b"\n".join(lines) + b"\n"
        try:
            answer = await self._client.bulk(body=payload, refresh=self._refresh)
        except (TransportConnectionError, TransportError) as exc:
            raise _unavailable(exc) from exc
        if not answer.get("errors"):
            return [True] * len(documents)
        created: list[bool] = []
        failures: list[dict[str, Any]] = []
        for item in answer.get("items", ()):
            result = item.get(action, {})
            status = result.get("status", 500)
            if status < 300:
                created.append(True)
            elif status == 409 and action == "create":
                created.append(False)
            else:
                failures.append(result)
        if any(f.get("status", 500) in (429,) or f.get("status", 500) >= 500 for f in failures):
            raise _unavailable(RuntimeError("bulk item failures"))
        if failures or len(created) != len(documents):
            reason = failures[0].get("error") if failures else "items missing from the answer"
            raise RuntimeError(f"OpenSearch refused a document: {reason}")
        return created

    async def bulk_delete(self, documents: Sequence[tuple[str, str]]) -> None:
        """Delete (index, id) pairs; one already gone is fine (retry-safe)."""
        if not documents:
            return
        payload = (
            b"\n".join(
                _encode({"delete": {"_index": index, "_id": doc_id}}) for index, doc_id in documents
            )
            + b"\n"
        )
        try:
            answer = await self._client.bulk(body=payload, refresh=self._refresh)
        except (TransportConnectionError, TransportError) as exc:
            raise _unavailable(exc) from exc
        if answer.get("errors"):
            statuses = [item.get("delete", {}).get("status", 500) for item in answer["items"]]
            if any(status >= 300 and status != 404 for status in statuses):
                raise _unavailable(RuntimeError("bulk delete item failures"))

    async def search(self, indices: Iterable[str], body: dict[str, Any]) -> dict[str, Any]:
        """One search over the named indices; missing ones are skipped."""
        names = ",".join(indices)
        if not names:
            return {"hits": {"hits": []}, "aggregations": {}}
        try:
            answer: dict[str, Any] = await self._client.search(
                index=names, body=body, ignore_unavailable=True, allow_no_indices=True
            )
        except (TransportConnectionError, TransportError) as exc:
            if (
                isinstance(exc, TransportError)
                and isinstance(exc.status_code, int)
                and (400 <= exc.status_code < 429)
            ):
                raise
            raise _unavailable(exc) from exc
        return answer

    async def delete_by_query(self, patterns: Iterable[str], query: dict[str, Any]) -> int:
        """Delete matching documents from every index of the patterns; how many went."""
        try:
            answer = await self._client.delete_by_query(
                index=",".join(patterns),
                body={"query": query},
                conflicts="proceed",
                refresh=True,
                ignore_unavailable=True,
                allow_no_indices=True,
                request_timeout=DELETE_TIMEOUT,
            )
        except (TransportConnectionError, TransportError) as exc:
            raise _unavailable(exc) from exc
        return int(answer.get("deleted", 0))

    async def daily_indices(self, kind: Kind, tier: str) -> dict[str, date]:
        """The existing daily indices of a kind and tier, with their day."""
        try:
            answer = await self._client.indices.get(
                index=self.pattern(kind, tier), allow_no_indices=True, ignore_unavailable=True
            )
        except (TransportConnectionError, TransportError) as exc:
            raise _unavailable(exc) from exc
        found: dict[str, date] = {}
        for name in answer:
            match = _DAY_SUFFIX.search(name)
            if match and name.startswith(f"{self.prefix}{kind}-{tier}-"):
                found[name] = date(*(int(part) for part in match.groups()))
        return found

    async def delete_indices(self, names: Sequence[str]) -> None:
        """Delete indices by exact name (never a wildcard), a few dozen per request."""
        for start in range(0, len(names), 50):
            try:
                await self._client.indices.delete(
                    index=",".join(names[start : start + 50]), ignore_unavailable=True
                )
            except (TransportConnectionError, TransportError) as exc:
                raise _unavailable(exc) from exc

    async def ping(self) -> None:
        """Raise unless the cluster answers."""
        try:
            await self._client.cluster.health(request_timeout=min(self._timeout, 2.0))
        except (TransportConnectionError, TransportError) as exc:
            raise _unavailable(exc) from exc
