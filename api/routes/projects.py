"""Projects, project keys and org admin keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import Ctx, org_permission, project_permission
from api.deps import AppResources, DbSession
from tenancy import projects
from tenancy.models import ApiKey, Project
from tenancy.roles import Permission
from tenancy.schemas import (
    KeyCreate,
    KeyOut,
    KeyRotate,
    Page,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)

Limit = Annotated[int, QueryParameter(ge=1, le=200)]


def _project_out(project: Project) -> ProjectOut:
    return ProjectOut(project.id, project.name, project.org_id, project.created_at)


def _key_out(key: ApiKey, secret: str | None = None) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        expires_at=key.expires_at,
        kind=key.kind,
        project_id=key.project_id,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        key=secret,
        previous_valid_until=key.previous_valid_until,
    )


def _rate_limits(data: JSONBody[KeyCreate]) -> dict[str, object] | None:
    return msgspec.to_builtins(data.rate_limits) if data.rate_limits else None


async def _list_keys(
    db_session: DbSession, ctx: Ctx, project_id: str | None, cursor: str | None, limit: int
) -> Page[KeyOut]:
    rows = await projects.list_keys(db_session, ctx, project_id, cursor, limit)
    items = [_key_out(k) for k in rows]
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)


async def _create_key(
    db_session: DbSession,
    ctx: Ctx,
    resources: AppResources,
    project_id: str | None,
    data: KeyCreate,
) -> KeyOut:
    created = await projects.create_key(
        db_session,
        ctx,
        project_id=project_id,
        name=data.name,
        scopes=list(data.scopes) if data.scopes is not None else None,
        expires_at=data.expires_at,
        rate_limits=_rate_limits(data),
        lookup=resources.key_lookup,
    )
    return _key_out(created.key, created.secret)


async def _rotate_key(
    db_session: DbSession,
    ctx: Ctx,
    resources: AppResources,
    key_id: str,
    project_id: str | None,
    data: KeyRotate | None,
) -> KeyOut:
    grace = timedelta(seconds=(data or KeyRotate()).grace_period_seconds)
    created = await projects.rotate_key(
        db_session, ctx, key_id, project_id, grace, resources.key_lookup
    )
    return _key_out(created.key, created.secret)


class OrgProjectsController(Controller):
    """Projects and admin keys listed under their org."""

    path = "/v1/orgs/{org:str}"
    tags = ["projects"]

    @get(
        "/projects",
        operation_id="list_projects",
        dependencies={"ctx": org_permission(Permission.PROJECTS_READ)},
    )
    async def list_projects(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[ProjectOut]:
        """Projects of the org, oldest first."""
        rows = await projects.list_projects(db_session, ctx, cursor, limit)
        items = [_project_out(p) for p in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post(
        "/projects",
        operation_id="create_project",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": org_permission(Permission.PROJECTS_WRITE)},
    )
    async def create_project(
        self, data: JSONBody[ProjectCreate], db_session: DbSession, ctx: Ctx
    ) -> ProjectOut:
        """A new project."""
        return _project_out(await projects.create_project(db_session, ctx, data.name))

    @get(
        "/keys",
        operation_id="list_org_keys",
        dependencies={"ctx": org_permission(Permission.ORG_KEYS_MANAGE)},
    )
    async def list_org_keys(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[KeyOut]:
        """Org admin keys (prefixes only)."""
        return await _list_keys(db_session, ctx, None, cursor, limit)

    @post(
        "/keys",
        operation_id="create_org_key",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": org_permission(Permission.ORG_KEYS_MANAGE)},
    )
    async def create_org_key(
        self, data: JSONBody[KeyCreate], db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> KeyOut:
        """A new org admin key (`tgo_…`); the secret is in this response only."""
        return await _create_key(db_session, ctx, resources, None, data)

    @delete(
        "/keys/{key_id:str}",
        operation_id="revoke_org_key",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": org_permission(Permission.ORG_KEYS_MANAGE)},
    )
    async def revoke_org_key(
        self, key_id: FromPath[str], db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> None:
        """Revoke an org admin key."""
        await projects.revoke_key(db_session, ctx, key_id, None, resources.key_lookup)

    @post(
        "/keys/{key_id:str}/rotate",
        operation_id="rotate_org_key",
        status_code=200,
        dependencies={"ctx": org_permission(Permission.ORG_KEYS_MANAGE)},
    )
    async def rotate_org_key(
        self,
        key_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        data: JSONBody[KeyRotate | None] = None,
    ) -> KeyOut:
        """A new secret; the old one works for the grace period (default 24 h)."""
        return await _rotate_key(db_session, ctx, resources, key_id, None, data)


class ProjectController(Controller):
    """One project and its keys."""

    path = "/v1/projects/{project:str}"
    tags = ["projects"]

    @get(
        "/",
        operation_id="get_project",
        dependencies={"ctx": project_permission(Permission.PROJECTS_READ)},
    )
    async def get_project(
        self, project: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> ProjectOut:
        """One project."""
        return _project_out(await projects.get_project(db_session, ctx, project))

    @patch(
        "/",
        operation_id="update_project",
        dependencies={"ctx": project_permission(Permission.PROJECTS_WRITE)},
    )
    async def update_project(
        self, project: FromPath[str], data: JSONBody[ProjectUpdate], db_session: DbSession, ctx: Ctx
    ) -> ProjectOut:
        """Rename a project."""
        return _project_out(await projects.rename_project(db_session, ctx, project, data.name))

    @delete(
        "/",
        operation_id="delete_project",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": project_permission(Permission.PROJECTS_WRITE)},
    )
    async def delete_project(
        self, project: FromPath[str], db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> None:
        """Delete a project, its keys and (in the background) its telemetry."""
        await projects.delete_project(db_session, ctx, project, resources.key_lookup)

    @get(
        "/keys",
        operation_id="list_project_keys",
        dependencies={"ctx": project_permission(Permission.KEYS_READ)},
    )
    async def list_keys(
        self,
        project: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[KeyOut]:
        """The project's keys (prefixes only, never secrets)."""
        return await _list_keys(db_session, ctx, project, cursor, limit)

    @post(
        "/keys",
        operation_id="create_project_key",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": project_permission(Permission.KEYS_WRITE)},
    )
    async def create_key(
        self,
        project: FromPath[str],
        data: JSONBody[KeyCreate],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> KeyOut:
        """A new project key (`tgp_…`); the secret is in this response only."""
        return await _create_key(db_session, ctx, resources, project, data)

    @delete(
        "/keys/{key_id:str}",
        operation_id="revoke_project_key",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": project_permission(Permission.KEYS_WRITE)},
    )
    async def revoke_key(
        self,
        project: FromPath[str],
        key_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> None:
        """Revoke a key: every gateway process refuses it within seconds."""
        await projects.revoke_key(db_session, ctx, key_id, project, resources.key_lookup)

    @post(
        "/keys/{key_id:str}/rotate",
        operation_id="rotate_project_key",
        status_code=200,
        dependencies={"ctx": project_permission(Permission.KEYS_WRITE)},
    )
    async def rotate_key(
        self,
        project: FromPath[str],
        key_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        data: JSONBody[KeyRotate | None] = None,
    ) -> KeyOut:
        """A new secret; the old one works for the grace period (default 24 h)."""
        return await _rotate_key(db_session, ctx, resources, key_id, project, data)
