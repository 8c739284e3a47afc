"""Who is calling, and may they: principals and the permission dependencies handlers declare."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, SkipValidation

from api.deps import AppResources, DbSession
from infra.errors import UnauthenticatedError
from tenancy.authz import (
    Principal,
    UserPrincipal,
    authenticate,
    check_csrf,
    org_context,
    project_context,
)
from tenancy.context import TenantContext
from tenancy.roles import Permission

SESSION_COOKIE = "tg_session"
CSRF_COOKIE = "tg_csrf"
CSRF_HEADER = "x-csrf-token"


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    """The client address (X-Forwarded-For counts only through TRUSTED_PROXIES; see middleware)."""
    return request.client.host if request.client else None


def _credentials(request: Request[Any, Any, Any]) -> tuple[str | None, bool]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise UnauthenticatedError("Use Authorization: Bearer <token>")
        return value.strip(), False
    api_key = request.headers.get("x-api-key")
    if api_key:
        return api_key.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def provide_principal(
    request: Request[Any, Any, Any], db_session: DbSession, resources: AppResources
) -> Principal:
    """The authenticated caller; 401 without valid credentials, 403 on a failed CSRF check."""
    token, via_cookie = _credentials(request)
    if not token:
        raise UnauthenticatedError(
            "Authenticate with Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="tollgate"'},
        )
    principal = await authenticate(
        db_session, token, via_cookie=via_cookie, key_lookup=resources.key_lookup
    )
    check_csrf(principal, request.method, request.headers.get(CSRF_HEADER))
    return principal


async def provide_optional_principal(
    request: Request[Any, Any, Any], db_session: DbSession, resources: AppResources
) -> Principal | None:
    """The caller if credentials were sent, else None."""
    token, _ = _credentials(request)
    if not token:
        return None
    return await provide_principal(request, db_session, resources)


async def provide_user(principal: Caller) -> UserPrincipal:
    """The caller, who must be a person logged in (not an API key)."""
    if not isinstance(principal, UserPrincipal):
        raise UnauthenticatedError("This endpoint needs a user session, not an API key")
    return principal


# Which permission each dependency below checks, so a test can list every route's permission.
_DECLARED: dict[object, Permission] = {}


def declared_permission(dependency: Provide) -> Permission | None:
    """The permission an `org_permission` / `project_permission` dependency checks."""
    return _DECLARED.get(dependency.dependency)


def org_permission(permission: Permission) -> Provide:
    """A dependency giving the TenantContext of `{org}` if the caller holds `permission`."""

    async def provide(
        request: Request[Any, Any, Any],
        db_session: DbSession,
        principal: Caller,
        org: FromPath[str],
    ) -> TenantContext:
        return await org_context(db_session, principal, org, permission, client_ip(request))

    _DECLARED[provide] = permission
    return Provide(provide)


def project_permission(permission: Permission) -> Provide:
    """A dependency giving the TenantContext of `{project}`'s org if the caller holds it."""

    async def provide(
        request: Request[Any, Any, Any],
        db_session: DbSession,
        principal: Caller,
        project: FromPath[str],
    ) -> TenantContext:
        return await project_context(db_session, principal, project, permission, client_ip(request))

    _DECLARED[provide] = permission
    return Provide(provide)


# A principal is one of two dataclasses; msgspec cannot validate such a union, and it needs no
# validation: only provide_principal makes one.
Caller = NamedDependency[SkipValidation[Principal]]
OptionalCaller = NamedDependency[SkipValidation[Principal | None]]
LoggedInUser = NamedDependency[UserPrincipal]
Ctx = NamedDependency[TenantContext]
