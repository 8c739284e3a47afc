"""An org's export: its rows and telemetry as one NDJSON stream with a header and a trailer.

Every line is one JSON object whose first field is `type`. The stream opens with an `export`
header and ends with an `end` trailer holding the count of every line type; a stream without
the trailer is incomplete (it ends with an `error` line when a store failed part-way through).

Rows are read one keyset page at a time, each page in a short transaction of its own bound to
the tenant (ORM filter and RLS), so neither memory nor a database transaction grows with the
tenant or with how slowly the client reads. The export is therefore not one snapshot: a row
written while it runs may or may not be in it.

Secrets never leave: key hashes, invite tokens, the SSO client secret and password hashes are
not read into the lines (every line is built from an explicit list of fields).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.logging import get_logger
from infra.settings import Tier
from tenancy import audit
from tenancy.context import TenantContext
from tenancy.models import ApiKey, AuditEvent, Invite, Membership, Project, User
from tenancy.orgs import get_org
from tenancy.repository import (
    InviteRepository,
    KeyRepository,
    OrgRepository,
    ProjectRepository,
    SsoRepository,
)
from tenancy.scoping import bind_tenant

VERSION: Final = 1
MEDIA_TYPE: Final = "application/x-ndjson"
PAGE: Final = 500
CHUNK_BYTES: Final = 64 * 1024

Sessions = async_sessionmaker[AsyncSession]
Row = TypeVar("Row")
Position = TypeVar("Position")

log = get_logger(__name__)
_encode = msgspec.json.Encoder().encode


class Section(NamedTuple):
    """The lines of one type: objects to encode, or JSON objects already encoded as bytes."""

    type: str
    rows: AsyncGenerator[object, None]


@dataclass(frozen=True)
class ExportStart:
    """What an export needs before it streams: its header and the org's projects."""

    header: dict[str, object]
    project_ids: list[str]


def line(kind: str, row: object) -> bytes:
    """One NDJSON line: the row's JSON object with `type` as its first field."""
    body = row if isinstance(row, bytes) else _encode(row)
    if not body.startswith(b"{"):
        raise TypeError(f"an export line is a JSON object, not {body[:20]!r}")
    rest = body[1:].lstrip()
    return b'{"type":' + _encode(kind) + (b"}" if rest == b"}" else b"," + rest) + b"\n"


async def ndjson(header: Mapping[str, object], sections: Sequence[Section]) -> AsyncIterator[bytes]:
    """The whole export, in chunks of about CHUNK_BYTES; sections are read in order."""
    counts = dict.fromkeys((section.type for section in sections), 0)
    buffer = bytearray(line("export", header))
    for section in sections:
        try:
            async with aclosing(section.rows) as rows:
                async for row in rows:
                    buffer += line(section.type, row)
                    counts[section.type] += 1
                    if len(buffer) >= CHUNK_BYTES:
                        yield bytes(buffer)
                        buffer.clear()
        except Exception:
            # Headers are sent: the status can no longer say it. The missing trailer does.
            log.exception("export.failed", org_id=header.get("org_id"), section=section.type)
            detail = f"The export stopped while reading {section.type} lines; retry it later."
            buffer += line("error", {"section": section.type, "detail": detail})
            yield bytes(buffer)
            return
    buffer += line("end", {"counts": counts})
    yield bytes(buffer)


async def begin(session: AsyncSession, context: TenantContext, tier: Tier) -> ExportStart:
    """Audit the export (in the request's transaction) and gather what it starts from; `tier`
    is where the org's telemetry is read."""
    org = await get_org(session, context)
    await audit.record(
        session, context, "org.exported", "org", org.id, format="ndjson", version=VERSION
    )
    project_ids: list[str] = []
    repo = ProjectRepository(session, context)
    while page := await repo.page(project_ids[-1] if project_ids else None, PAGE):
        project_ids += [project.id for project in page]
        if len(page) < PAGE:
            break
    header: dict[str, object] = {
        "version": VERSION,
        "org_id": org.id,
        "org_slug": org.slug,
        "tier": tier.value,
        "exported_at": datetime.now(UTC),
    }
    return ExportStart(header, project_ids)


@asynccontextmanager
async def scoped_session(sessions: Sessions, context: TenantContext) -> AsyncIterator[AsyncSession]:
    """A short transaction bound to the context's org, for one page of reads."""
    async with sessions() as session, session.begin():
        await bind_tenant(session, context)
        yield session


async def paged(
    sessions: Sessions,
    context: TenantContext,
    fetch: Callable[[AsyncSession, Position | None, int], Awaitable[Sequence[Row]]],
    render: Callable[[Row], dict[str, Any]],
    position: Callable[[Row], Position],
    size: int = PAGE,
) -> AsyncGenerator[object, None]:
    """Every row a keyset-paged query returns, rendered inside the page's transaction."""
    after: Position | None = None
    while True:
        async with scoped_session(sessions, context) as session:
            rows = await fetch(session, after, size)
            rendered = [render(row) for row in rows]
            if rows:
                after = position(rows[-1])
        for item in rendered:
            yield item
        if len(rows) < size:
            return


async def whole(
    sessions: Sessions,
    context: TenantContext,
    fetch: Callable[[AsyncSession], Awaitable[Sequence[dict[str, Any]]]],
) -> AsyncGenerator[object, None]:
    """The rows of a query known to be small (one org, one SSO connection), in one page."""
    async with scoped_session(sessions, context) as session:
        rows = await fetch(session)
    for row in rows:
        yield row


# -- rows ----------------------------------------------------------------------------------------


async def _org(session: AsyncSession, context: TenantContext) -> list[dict[str, Any]]:
    org = await get_org(session, context)
    fields = ("id", "slug", "name", "status", "created_at")
    return [{name: getattr(org, name) for name in fields}]


def _member(row: tuple[Membership, User]) -> dict[str, Any]:
    membership, user = row
    return {
        "user_id": user.id,
        "email": user.email,
        "name": user.name,
        "role": membership.role,
        "joined_at": membership.created_at,
    }


def _project(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "created_at": project.created_at}


_KEY_FIELDS: Final = (
    "id",
    "project_id",
    "kind",
    "name",
    "prefix",
    "scopes",
    "rate_limits",
    "created_by",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "previous_valid_until",
)


def _key(key: ApiKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in _KEY_FIELDS}


_INVITE_FIELDS: Final = (
    "id",
    "email",
    "role",
    "created_by",
    "created_at",
    "expires_at",
    "accepted_at",
)


def _invite(invite: Invite) -> dict[str, Any]:
    return {name: getattr(invite, name) for name in _INVITE_FIELDS}


_SSO_FIELDS: Final = (
    "id",
    "issuer",
    "discovery_url",
    "client_id",
    "domains",
    "enforce",
    "default_role",
    "created_at",
    "updated_at",
)


async def _sso(session: AsyncSession, context: TenantContext) -> list[dict[str, Any]]:
    connection = await SsoRepository(session, context).get()
    if connection is None:
        return []
    return [{name: getattr(connection, name) for name in _SSO_FIELDS}]


def _audit_event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "target": {"type": event.target_type, "id": event.target_id},
        "ip": event.ip,
        "at": event.at,
        "data": event.data,
    }


def tenancy_sections(sessions: Sessions, context: TenantContext) -> list[Section]:
    """The org, its members, projects, API keys (metadata), invites and SSO connection."""
    return [
        Section("org", whole(sessions, context, lambda s: _org(s, context))),
        Section(
            "member",
            paged(
                sessions,
                context,
                lambda s, after, n: OrgRepository(s, context).members_page(after, n),
                _member,
                lambda row: row[1].id,
            ),
        ),
        Section(
            "project",
            paged(
                sessions,
                context,
                lambda s, after, n: ProjectRepository(s, context).page(after, n),
                _project,
                lambda project: project.id,
            ),
        ),
        Section(
            "api_key",
            paged(
                sessions,
                context,
                lambda s, after, n: KeyRepository(s, context).page_all(after, n),
                _key,
                lambda key: key.id,
            ),
        ),
        Section(
            "invite",
            paged(
                sessions,
                context,
                lambda s, after, n: InviteRepository(s, context).page(after, n),
                _invite,
                lambda invite: invite.id,
            ),
        ),
        Section("sso_connection", whole(sessions, context, lambda s: _sso(s, context))),
    ]


def audit_section(sessions: Sessions, context: TenantContext) -> Section:
    """The audit log, newest first (the export's own `org.exported` event comes first)."""
    return Section(
        "audit_event",
        paged(
            sessions,
            context,
            lambda s, before, n: OrgRepository(s, context).audit_page(before, n),
            _audit_event,
            lambda event: event.id,
        ),
    )
