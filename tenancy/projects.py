"""Projects and their API keys, and org admin keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from infra.timeparse import utc_instant
from tenancy import audit, keys, webhooks
from tenancy.authz import require_grantable_scopes
from tenancy.context import TenantContext
from tenancy.key_lookup import KeyLookup
from tenancy.models import ApiKey, Project
from tenancy.repository import KeyRepository, ProjectRepository
from tenancy.roles import DEFAULT_PROJECT_KEY_SCOPES, ORG_KEY_SCOPES, PROJECT_KEY_SCOPES, Scope

MAX_PAGE = 200


async def get_project(session: AsyncSession, context: TenantContext, project_id: str) -> Project:
    """A project of the context's org, else 404."""
    project = await ProjectRepository(session, context).get(project_id)
    if project is None:
        raise NotFoundError("Project not found")
    return project


def check_cursor(cursor: str | None, prefix: str) -> str | None:
    """A list cursor is the id of the last item seen; anything else is refused (400)."""
    return id_cursor(cursor, prefix)


async def list_projects(
    session: AsyncSession, context: TenantContext, after: str | None, limit: int
) -> Sequence[Project]:
    """A page of projects."""
    after = check_cursor(after, "prj")
    return await ProjectRepository(session, context).page(after, min(limit, MAX_PAGE))


async def create_project(session: AsyncSession, context: TenantContext, name: str) -> Project:
    """A new project; audited."""
    project = Project(id=new_id("prj"), name=name)
    await ProjectRepository(session, context).add(project)
    await audit.record(session, context, "project.created", "project", project.id, name=name)
    return project


async def rename_project(
    session: AsyncSession, context: TenantContext, project_id: str, name: str
) -> Project:
    """Rename a project; audited."""
    project = await get_project(session, context, project_id)
    previous, project.name = project.name, name
    await session.flush()
    await audit.record(
        session, context, "project.updated", "project", project.id, old=previous, new=name
    )
    return project


async def delete_project(
    session: AsyncSession, context: TenantContext, project_id: str, lookup: KeyLookup
) -> None:
    """Delete a project and its keys now, its telemetry after commit; audited."""
    project = await get_project(session, context, project_id)
    hashes = await KeyRepository(session, context).active_hashes(project.id)
    await ProjectRepository(session, context).delete(project)
    await audit.record(
        session, context, "project.deleted", "project", project.id, name=project.name
    )
    jobs.enqueue(session, "tenancy.purge_project_telemetry", context.org_id, project.id)
    jobs.after_commit(session, lambda: lookup.publish_invalidation(hashes))


@dataclass(frozen=True)
class NewKey:
    """A key row and its secret (shown once)."""

    key: ApiKey
    secret: str


def _validate_scopes(requested: list[str] | None, kind: str) -> list[str]:
    allowed = PROJECT_KEY_SCOPES if kind == "project" else ORG_KEY_SCOPES
    if requested is None:
        return sorted(DEFAULT_PROJECT_KEY_SCOPES if kind == "project" else {Scope.ORG_ADMIN})
    wrong = sorted(set(requested) - {s.value for s in allowed})
    if wrong:
        raise ValidationError(
            f"scopes: {', '.join(wrong)} not allowed on {kind} keys", field="scopes"
        )
    if not requested:
        raise ValidationError("scopes: a key needs at least one scope", field="scopes")
    return sorted(set(requested))


def _validate_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ValidationError(
            "expires_at: give a timezone (e.g. 2027-01-01T00:00:00Z)", field="expires_at"
        )
    if expires_at <= datetime.now(UTC):
        raise ValidationError("expires_at: must be in the future", field="expires_at")
    return utc_instant(expires_at, "expires_at")


async def create_key(
    session: AsyncSession,
    context: TenantContext,
    *,
    project_id: str | None,
    name: str,
    scopes: list[str] | None,
    expires_at: datetime | None,
    rate_limits: dict[str, Any] | None,
    lookup: KeyLookup | None,
) -> NewKey:
    """A project key (project_id given) or org admin key; only its hash is stored; audited.

    Its hash is announced to every process after commit (`lookup`; None only outside a
    serving process), so no negative cache entry can hide the new key."""
    kind = "project" if project_id else "org"
    if project_id:
        await get_project(session, context, project_id)
    granted = _validate_scopes(scopes, kind)
    require_grantable_scopes(context, frozenset(Scope(s) for s in granted))
    secret = keys.generate(keys.KeyKind.PROJECT if project_id else keys.KeyKind.ORG)
    key = ApiKey(
        id=new_id("key"),
        project_id=project_id,
        kind=kind,
        name=name,
        prefix=keys.display_prefix(secret),
        secret_hash=keys.digest(secret),
        scopes=granted,
        rate_limits=rate_limits,
        expires_at=_validate_expiry(expires_at),
        created_by=context.actor.id,
    )
    await KeyRepository(session, context).add(key)
    await audit.record(
        session,
        context,
        "key.created",
        "api_key",
        key.id,
        kind=kind,
        name=name,
        scopes=key.scopes,
        project_id=project_id,
    )
    if lookup is not None:
        announce = [key.secret_hash]
        jobs.after_commit(session, lambda: lookup.publish_invalidation(announce))
    return NewKey(key, secret)


async def list_keys(
    session: AsyncSession,
    context: TenantContext,
    project_id: str | None,
    after: str | None,
    limit: int,
) -> Sequence[ApiKey]:
    """A page of a project's keys or of the org's admin keys."""
    after = check_cursor(after, "key")
    if project_id:
        await get_project(session, context, project_id)
    return await KeyRepository(session, context).page(
        project_id=project_id,
        kind="project" if project_id else "org",
        after=after,
        limit=min(limit, MAX_PAGE),
    )


async def _get_key(
    session: AsyncSession, context: TenantContext, key_id: str, project_id: str | None
) -> ApiKey:
    if not looks_like_id(key_id, "key"):
        raise NotFoundError("Key not found")
    key = await KeyRepository(session, context).get(
        key_id, project_id=project_id, kind="project" if project_id else "org"
    )
    if key is None:
        raise NotFoundError("Key not found")
    return key


def _key_event(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "kind": key.kind, "project_id": key.project_id}


async def revoke_key(
    session: AsyncSession,
    context: TenantContext,
    key_id: str,
    project_id: str | None,
    lookup: KeyLookup,
) -> None:
    """Revoke a key; every process stops accepting it within seconds of commit; audited."""
    key = await _get_key(session, context, key_id, project_id)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        await audit.record(session, context, "key.revoked", "api_key", key.id, name=key.name)
        await webhooks.emit(session, context, "key.revoked", _key_event(key))
    hashes = [h for h in (key.secret_hash, key.previous_hash) if h]
    jobs.after_commit(session, lambda: lookup.publish_invalidation(hashes))


async def rotate_key(
    session: AsyncSession,
    context: TenantContext,
    key_id: str,
    project_id: str | None,
    grace: timedelta,
    lookup: KeyLookup,
) -> NewKey:
    """A new secret for a key; the old one keeps working for the grace period; audited."""
    key = await _get_key(session, context, key_id, project_id)
    if key.revoked_at is not None:
        raise NotFoundError("Key not found")
    # The new secret is shown to the caller: rotating is granting the key's scopes again.
    require_grantable_scopes(context, frozenset(Scope(s) for s in key.scopes))
    stale = [h for h in (key.secret_hash, key.previous_hash) if h]
    secret = keys.generate(keys.KeyKind.PROJECT if project_id else keys.KeyKind.ORG)
    key.previous_hash = key.secret_hash
    key.previous_valid_until = datetime.now(UTC) + grace
    key.secret_hash = keys.digest(secret)
    key.prefix = keys.display_prefix(secret)
    await session.flush()
    await audit.record(
        session,
        context,
        "key.rotated",
        "api_key",
        key.id,
        grace_seconds=int(grace.total_seconds()),
    )
    # The new hash too: a process may hold it in its negative cache.
    changed = [*stale, key.secret_hash]
    jobs.after_commit(session, lambda: lookup.publish_invalidation(changed))
    return NewKey(key, secret)
