"""Authentication and authorization: the only code that creates a TenantContext."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import NotFoundError, PermissionDeniedError, UnauthenticatedError
from infra.ids import looks_like_id
from tenancy import keys
from tenancy.context import _SEAL, Actor, OrgId, TenantContext
from tenancy.errors import CsrfError
from tenancy.hub_repository import GlobalHubKeyRepository, GlobalHubOrgRepository
from tenancy.key_lookup import KeyLookup
from tenancy.repository import GlobalOrgRepository, KeyRecord, UserRepository
from tenancy.roles import (
    Permission,
    Role,
    Scope,
    held_permissions,
    missing_to_grant_role,
    missing_to_grant_scopes,
)
from tenancy.scoping import bind_tenant, bind_user


@dataclass(frozen=True)
class UserPrincipal:
    """A user authenticated by a session token."""

    user_id: str
    email: str
    name: str
    session_id: str
    csrf_hash: bytes
    via_cookie: bool
    # An SSO login's session acts only in the org whose identity provider vouched for it.
    org_scope: str | None = None

    def sees_org(self, org_id: str) -> bool:
        """Whether this session may act in the org at all (its role there decides the rest)."""
        return self.org_scope is None or self.org_scope == org_id


@dataclass(frozen=True)
class KeyPrincipal:
    """A caller authenticated by an org or project API key."""

    key: KeyRecord


Principal = UserPrincipal | KeyPrincipal


@dataclass(frozen=True)
class HubPrincipal:
    """A sibling product authenticated by a hub key (tgh_); it sees only the orgs it provisioned."""

    key_id: str
    product: str


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")


def looks_like_org_ref(ref: str) -> bool:
    """An org id or a slug by shape, so anything else is a 404 without a query (a NUL byte
    would otherwise reach PostgreSQL and fail the request with a 500)."""
    return looks_like_id(ref, "org") or _SLUG.fullmatch(ref) is not None


def _context(
    org_id: str, actor: Actor, role: Role | None, scopes: frozenset[Scope]
) -> TenantContext:
    return TenantContext(OrgId(org_id), actor, role, scopes, seal=_SEAL)


def permissions_of(context: TenantContext) -> frozenset[Permission]:
    """What the context's member role (or, without one, its key scopes) holds."""
    return held_permissions(context.role, context.scopes)


def _names(permissions: frozenset[Permission]) -> str:
    return ", ".join(sorted(p.value for p in permissions))


def require_grantable_role(context: TenantContext, role: Role, field: str = "role") -> None:
    """403 unless the caller holds every permission `role` carries (invites, role changes, the
    SSO default role: nobody hands out more than they have)."""
    missing = missing_to_grant_role(permissions_of(context), role)
    if missing:
        raise PermissionDeniedError(
            f"{field}: you cannot grant the {role.value} role: it allows {_names(missing)}, "
            "which you may not do",
            field=field,
        )


def require_manageable_member(context: TenantContext, current: Role) -> None:
    """403 unless the caller could grant the member's current role (so an admin neither demotes
    nor removes an owner or a billing manager)."""
    missing = missing_to_grant_role(permissions_of(context), current)
    if missing:
        raise PermissionDeniedError(
            f"You cannot change or remove a member with the {current.value} role: it allows "
            f"{_names(missing)}, which you may not do"
        )


def require_grantable_scopes(context: TenantContext, scopes: frozenset[Scope]) -> None:
    """403 unless the caller holds every permission these key scopes carry (a key never mints a
    stronger key; an admin's key cannot manage billing)."""
    missing = missing_to_grant_scopes(permissions_of(context), scopes)
    if missing:
        raise PermissionDeniedError(
            f"scopes: you cannot grant {', '.join(sorted(scopes))}: they allow "
            f"{_names(missing)}, which you may not do",
            field="scopes",
        )


async def authenticate(
    session: AsyncSession,
    token: str,
    *,
    via_cookie: bool,
    key_lookup: KeyLookup,
    now: datetime | None = None,
) -> Principal:
    """Resolve a bearer token, session cookie or API key to a principal, or refuse with 401."""
    now = now or datetime.now(UTC)
    kind = keys.parse_kind(token)
    if kind is keys.KeyKind.SESSION:
        secret_hash = keys.digest(token)
        found = await key_lookup.unless_unknown(
            secret_hash, lambda: UserRepository(session).session_by_hash(secret_hash)
        )
        if found is None:
            raise UnauthenticatedError("Unknown or expired session")
        user_session, user = found
        if user_session.revoked_at is not None:
            key_lookup.mark_unknown(secret_hash)  # a logout is forever
            raise UnauthenticatedError("Unknown or expired session")
        if user_session.expires_at <= now:
            raise UnauthenticatedError("Unknown or expired session")
        await bind_user(session, user.id)
        return UserPrincipal(
            user.id,
            user.email,
            user.name,
            user_session.id,
            user_session.csrf_hash,
            via_cookie,
            org_scope=user_session.org_id,
        )
    if kind in (keys.KeyKind.ORG, keys.KeyKind.PROJECT) and not via_cookie:
        record = await key_lookup.find(token, now=now)
        if record is None:
            raise UnauthenticatedError("Unknown, expired or revoked API key")
        key_lookup.record_use(record.id, now)
        return KeyPrincipal(record)
    raise UnauthenticatedError("Malformed credentials")


def check_csrf(principal: Principal, method: str, header_token: str | None) -> None:
    """Cookie sessions must echo their CSRF token on every unsafe method."""
    if not isinstance(principal, UserPrincipal) or not principal.via_cookie:
        return
    if method in ("GET", "HEAD", "OPTIONS"):
        return
    if not header_token or not hmac.compare_digest(keys.digest(header_token), principal.csrf_hash):
        raise CsrfError("Send the X-CSRF-Token header with the token from login")


def actor_of(principal: Principal, ip: str | None) -> Actor:
    """The audit actor for a principal."""
    if isinstance(principal, UserPrincipal):
        return Actor("user", principal.user_id, ip)
    return Actor("api_key", principal.key.id, ip)


async def authenticate_ingest(
    key_lookup: KeyLookup, token: str | None, project_id: str, scope: Scope, now: datetime
) -> KeyRecord:
    """The key of a data-plane request: a project key of this project, or an org key of its org,
    holding the signal's scope. 401 without a usable key; 404 when the key can't see the project;
    403 without the scope. Costs no database round trip in the steady state."""
    if not token:
        raise UnauthenticatedError(
            "Send the project key as Authorization: Bearer <key> or X-API-Key",
            headers={"WWW-Authenticate": 'Bearer realm="tollgate"'},
        )
    record = await key_lookup.find(token, now=now)
    if record is None or record.kind not in ("project", "org"):
        raise UnauthenticatedError("Unknown, expired or revoked API key")
    if record.kind == "project":
        if record.project_id != project_id:
            raise NotFoundError("Project not found")
    elif not looks_like_id(project_id, "prj") or (
        await key_lookup.project_org(project_id) != record.org_id
    ):
        raise NotFoundError("Project not found")
    if scope.value not in record.scopes:
        raise PermissionDeniedError(f"This key lacks the {scope.value} scope")
    key_lookup.record_use(record.id, now)
    return record


async def org_context(
    session: AsyncSession,
    principal: Principal,
    org_ref: str,
    permission: Permission,
    ip: str | None,
) -> TenantContext:
    """The context for acting on an org (by id or slug); 404 when not a member, 403 when the
    role or key scope does not allow the permission."""
    if not looks_like_org_ref(org_ref):
        raise NotFoundError("Organization not found")
    if isinstance(principal, UserPrincipal):
        found = await GlobalOrgRepository(session).membership(principal.user_id, org_ref)
        if found is None or not principal.sees_org(found[0].id):
            raise NotFoundError("Organization not found")
        org, membership = found
        role = Role(membership.role)
        if permission not in held_permissions(role, ()):
            raise PermissionDeniedError(f"Your role ({role}) does not allow {permission}")
        context = _context(org.id, actor_of(principal, ip), role, frozenset())
    else:
        key = principal.key
        if org_ref != key.org_id:
            found_slug = await GlobalOrgRepository(session).org_by_slug(org_ref)
            if found_slug is None or found_slug[0] != key.org_id:
                raise NotFoundError("Organization not found")
        if key.kind != "org":
            raise PermissionDeniedError("Project keys cannot use the control-plane API")
        scopes = frozenset(Scope(s) for s in key.scopes)
        if permission not in held_permissions(None, scopes):
            raise PermissionDeniedError(f"This key's scopes do not allow {permission}")
        context = _context(key.org_id, actor_of(principal, ip), None, scopes)
    await bind_tenant(session, context)
    return context


async def project_context(
    session: AsyncSession,
    principal: Principal,
    project_id: str,
    permission: Permission,
    ip: str | None,
) -> TenantContext:
    """The context for acting on a project; 404 unless the caller can see its org."""
    if not looks_like_id(project_id, "prj"):
        raise NotFoundError("Project not found")
    org_id = await GlobalOrgRepository(session).project_org(project_id)
    if org_id is None:
        raise NotFoundError("Project not found")
    try:
        return await org_context(session, principal, org_id, permission, ip)
    except NotFoundError:
        raise NotFoundError("Project not found") from None


async def new_org_context(
    session: AsyncSession, user_id: str, org_id: str, ip: str | None
) -> TenantContext:
    """The context in which a user creates an org they will own."""
    context = _context(org_id, Actor("user", user_id, ip), Role.OWNER, frozenset())
    await bind_tenant(session, context)
    return context


async def operator_context(session: AsyncSession, org_ref: str, ip: str | None) -> TenantContext:
    """The context of the operator (already authenticated by the admin token) acting on an org."""
    if not looks_like_org_ref(org_ref):
        raise NotFoundError("Organization not found")
    found = await GlobalOrgRepository(session).org_by_ref(org_ref)
    if found is None:
        raise NotFoundError("Organization not found")
    context = _context(found[0], Actor("operator", "operator", ip), None, frozenset(Scope))
    await bind_tenant(session, context)
    return context


async def system_context(session: AsyncSession, org_id: str, actor: Actor) -> TenantContext:
    """A context for trusted internal paths: workers, the operator, SSO and invite acceptance."""
    if actor.type not in ("system", "operator", "user"):
        raise ValueError("system contexts act as the system, the operator or a verified user")
    context = _context(org_id, actor, None, frozenset(Scope))
    await bind_tenant(session, context)
    return context


async def share_link_context(
    session: AsyncSession, org_id: str, share_id: str, ip: str | None
) -> TenantContext:
    """The context of someone holding a dashboard share link: the link's org with no role and no
    scope, so it passes no permission check; only the share routes accept it."""
    context = _context(org_id, Actor("share_link", share_id, ip), None, frozenset())
    await bind_tenant(session, context)
    return context


async def authenticate_hub(
    session: AsyncSession, token: str | None, key_lookup: KeyLookup
) -> HubPrincipal:
    """The hub key of a hub API request; 401 for anything else (org and project keys included).

    A usable key is looked up in the database on every call (hub traffic is low), so a
    revocation is immediate; unknown and revoked hashes are negative-cached, so forged hub
    keys cost one query each, not one per request.
    """
    if not token or keys.parse_kind(token) is not keys.KeyKind.HUB:
        raise UnauthenticatedError(
            "The hub API needs Authorization: Bearer <hub key (tgh_...)>",
            headers={"WWW-Authenticate": 'Bearer realm="tollgate-hub"'},
        )
    secret_hash = keys.digest(token)
    key = await key_lookup.unless_unknown(
        secret_hash, lambda: GlobalHubKeyRepository(session).by_hash(secret_hash)
    )
    if key is not None and key.revoked_at is not None:
        key_lookup.mark_unknown(secret_hash)  # revocation is forever
    if key is None or key.revoked_at is not None:
        raise UnauthenticatedError("Unknown or revoked hub key")
    return HubPrincipal(key.id, key.product)


def _hub_actor(hub: HubPrincipal, ip: str | None) -> Actor:
    return Actor("hub_key", hub.key_id, ip)


async def new_hub_org_context(
    session: AsyncSession, hub: HubPrincipal, org_id: str, ip: str | None
) -> TenantContext:
    """The context in which a hub key creates an org for its product's customer: it acts as the
    org's first owner would (so it may invite the customer as owner), for this one call."""
    context = _context(org_id, _hub_actor(hub, ip), Role.OWNER, frozenset({Scope.HUB}))
    await bind_tenant(session, context)
    return context


async def hub_org_context(
    session: AsyncSession, hub: HubPrincipal, org_ref: str, ip: str | None
) -> TenantContext:
    """The context of a hub key on an org its product provisioned; 404 for any other org."""
    if not looks_like_id(org_ref, "org"):
        raise NotFoundError("Organization not found")
    if await GlobalHubOrgRepository(session).of_org(hub.product, org_ref) is None:
        raise NotFoundError("Organization not found")
    context = _context(org_ref, _hub_actor(hub, ip), None, frozenset({Scope.HUB}))
    await bind_tenant(session, context)
    return context
