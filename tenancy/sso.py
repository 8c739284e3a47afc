"""Single sign-on per org (OIDC): the connection settings, login start and callback, JIT members.

A login is two requests. `start` keeps `{org_id, nonce, code_verifier}` in Redis under a random
state for 10 minutes and sends the user to the provider; `callback` takes the state back exactly
once (GETDEL), redeems the code, checks the ID token, and logs in the person the provider vouches
for: their email must be verified and in one of the connection's domains. Who that person is
(a linked account, an existing one to link, or a new one) is decided by `tenancy.sso_accounts`;
domain claims and their DNS proofs live in `tenancy.sso_domains`. The session an SSO login
creates acts only in the org whose provider vouched for it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from infra.crypto import DecryptionError, SecretBox
from infra.errors import NotFoundError, ValidationError
from infra.ids import new_id
from infra.logging import get_logger
from infra.oidc import (
    OidcClient,
    OidcError,
    OidcIdentity,
    ProviderMetadata,
    RelyingParty,
    check_response_issuer,
    discovery_url_for,
)
from tenancy import audit, sso_domains
from tenancy.accounts import IssuedSession, issue_session, normalize_email
from tenancy.authz import require_grantable_role, system_context
from tenancy.context import Actor, TenantContext
from tenancy.errors import SsoDomainNotAllowedError, SsoError
from tenancy.models import Org, SsoConnection, User
from tenancy.repository import GlobalOrgRepository, OrgRepository, SsoRepository
from tenancy.roles import Role
from tenancy.schemas import SsoConfigIn, SsoConfigOut
from tenancy.sso_accounts import ensure_membership, resolve_user
from tenancy.sso_domains import normalize_domain

log = get_logger(__name__)

STATE_TTL_SECONDS = 600
STATE_KEY_PREFIX = "tg:sso:state:"
CALLBACK_PATH = "/v1/auth/sso/callback"
MAX_PARAM_LENGTH = 2048
_SSO_ACTOR = "sso"


@dataclass(frozen=True)
class SsoDeps:
    """What SSO needs besides the database session."""

    redis: aioredis.Redis
    oidc: OidcClient
    secret_box: SecretBox
    base_url: str

    @property
    def redirect_uri(self) -> str:
        """The callback to register at the identity provider."""
        return f"{self.base_url}{CALLBACK_PATH}"


def start_url(base_url: str, org_slug: str) -> str:
    """Where a member of the org begins an SSO login."""
    return f"{base_url}/v1/auth/sso/{org_slug}/start"


# --- configuration -----------------------------------------------------------------------------


async def _out(
    session: AsyncSession, context: TenantContext, connection: SsoConnection, base_url: str
) -> SsoConfigOut:
    org_slug = (await _org(session, context)).slug
    return SsoConfigOut(
        issuer=connection.issuer,
        discovery_url=connection.discovery_url,
        client_id=connection.client_id,
        domains=list(connection.domains),
        enforce=connection.enforce,
        default_role=connection.default_role,
        start_url=start_url(base_url, org_slug),
        redirect_uri=f"{base_url}{CALLBACK_PATH}",
        updated_at=connection.updated_at,
        domain_proofs=await sso_domains.list_claims(session, context),
    )


async def _org(session: AsyncSession, context: TenantContext) -> Org:
    org = await OrgRepository(session, context).get()
    if org is None:
        raise NotFoundError("Organization not found")
    return org


async def get_config(session: AsyncSession, context: TenantContext, base_url: str) -> SsoConfigOut:
    """The org's connection (never its secret); 404 when none is configured."""
    connection = await SsoRepository(session, context).get()
    if connection is None:
        raise NotFoundError("Single sign-on is not configured for this organization")
    return await _out(session, context, connection, base_url)


async def put_config(
    session: AsyncSession, context: TenantContext, data: SsoConfigIn, deps: SsoDeps
) -> SsoConfigOut:
    """Create or replace the connection after checking the provider's discovery; audited."""
    # Every JIT member gets the default role: setting it is granting it (before any fetch).
    require_grantable_role(context, Role(data.default_role), field="default_role")
    domains = list(dict.fromkeys(sso_domains.claimable_domain(d) for d in data.domains))
    issuer = data.issuer.strip() if data.issuer and data.issuer.strip() else None
    discovery = data.discovery_url.strip() if data.discovery_url else ""
    if issuer is None and not discovery:
        raise ValidationError("issuer or discovery_url is required", field="issuer")
    discovery_url = discovery or discovery_url_for(issuer or "")
    try:
        metadata = await deps.oidc.discover(discovery_url, expected_issuer=issuer, refresh=True)
    except OidcError as exc:
        raise ValidationError(
            f"{'discovery_url' if discovery else 'issuer'}: {exc}",
            field="discovery_url" if discovery else "issuer",
        ) from None

    repository = SsoRepository(session, context)
    existing = await repository.get()
    if existing is None and data.client_secret is None:
        raise ValidationError("client_secret is required to configure SSO", field="client_secret")
    await sso_domains.sync_claims(session, context, domains)

    connection = existing or SsoConnection(id=new_id("sso"))
    connection.issuer = metadata.issuer
    connection.discovery_url = discovery_url
    connection.client_id = data.client_id
    if data.client_secret is not None:
        connection.client_secret_encrypted = deps.secret_box.encrypt(data.client_secret)
    connection.domains = domains
    connection.enforce = data.enforce
    connection.default_role = data.default_role
    connection.updated_at = datetime.now(UTC)
    await repository.save(connection)
    await audit.record(
        session,
        context,
        "sso.configured",
        "sso_connection",
        connection.id,
        created=existing is None,
        issuer=connection.issuer,
        client_id=connection.client_id,
        client_secret_changed=data.client_secret is not None,
        domains=domains,
        enforce=connection.enforce,
        default_role=connection.default_role,
    )
    return await _out(session, context, connection, deps.base_url)


async def delete_config(session: AsyncSession, context: TenantContext) -> None:
    """Remove the connection (password login works again for its domains); audited."""
    repository = SsoRepository(session, context)
    connection = await repository.get()
    if connection is None:
        raise NotFoundError("Single sign-on is not configured for this organization")
    await repository.delete(connection)
    await sso_domains.drop_claims(session, context)
    await audit.record(
        session,
        context,
        "sso.deleted",
        "sso_connection",
        connection.id,
        issuer=connection.issuer,
        domains=list(connection.domains),
    )


# --- login -------------------------------------------------------------------------------------


def safe_redirect(target: str) -> str:
    """A same-site relative path (`/app/…`), never a URL elsewhere: no open redirects."""
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)
        or parts.scheme
        or parts.netloc
        or len(target) > MAX_PARAM_LENGTH
    ):
        raise ValidationError(
            "redirect_to must be a relative path such as /app", field="redirect_to"
        )
    return target


async def _connection(
    session: AsyncSession, org_id: str, ip: str | None
) -> tuple[TenantContext, SsoConnection]:
    context = await system_context(session, org_id, Actor("system", _SSO_ACTOR, ip))
    connection = await SsoRepository(session, context).get()
    if connection is None:
        raise NotFoundError("Single sign-on is not configured for this organization")
    return context, connection


async def _metadata(deps: SsoDeps, connection: SsoConnection) -> ProviderMetadata:
    return await deps.oidc.discover(connection.discovery_url, expected_issuer=connection.issuer)


async def start(
    session: AsyncSession,
    deps: SsoDeps,
    *,
    org_slug: str,
    login_hint: str | None,
    redirect_to: str | None,
    ip: str | None,
) -> SsoStart:
    """Remember a new login attempt; the provider's URL, and the state to bind to the browser."""
    found = await GlobalOrgRepository(session).org_by_slug(org_slug)
    if found is None or found[1] == "deleting":
        raise NotFoundError("Single sign-on is not configured for this organization")
    if redirect_to is not None:
        safe_redirect(redirect_to)
    hint = login_hint.strip()[:320] if login_hint and login_hint.strip() else None
    _, connection = await _connection(session, found[0], ip)
    try:
        metadata = await _metadata(deps, connection)
    except OidcError as exc:
        raise SsoError(str(exc)) from None
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(48)
    pending = {
        "org_id": found[0],
        "nonce": nonce,
        "code_verifier": code_verifier,
        "created": int(time.time()),
        "redirect_to": redirect_to,
    }
    await deps.redis.set(STATE_KEY_PREFIX + state, json.dumps(pending), ex=STATE_TTL_SECONDS)
    party = RelyingParty(connection.client_id, "", deps.redirect_uri)
    url = await deps.oidc.authorization_url(
        metadata, party, state=state, nonce=nonce, code_verifier=code_verifier, login_hint=hint
    )
    return SsoStart(url, state)


@dataclass(frozen=True)
class SsoStart:
    """Where to send the browser, and the state it must bring back (kept in a cookie)."""

    url: str
    state: str = field(repr=False)


@dataclass(frozen=True)
class SsoLogin:
    """The outcome of a callback: who logged in, into which org, and their new session."""

    user: User
    org: Org
    role: str
    session: IssuedSession
    redirect_to: str | None
    joined: bool


async def _take_state(
    deps: SsoDeps, state: str | None, browser_state: str | None
) -> dict[str, Any]:
    """The pending login for a state, removed so it can be used only once.

    The state must also be the one the browser was given at start: otherwise an attacker could
    hand a victim the callback URL of the attacker's own login (login CSRF).
    """
    if not state or len(state) > MAX_PARAM_LENGTH:
        raise SsoError("The state parameter is missing or malformed")
    if not browser_state or not hmac.compare_digest(browser_state.encode(), state.encode()):
        raise SsoError("This sign-in was not started in this browser; start it again")
    raw = await deps.redis.getdel(STATE_KEY_PREFIX + state)
    if raw is None:
        raise SsoError("Unknown, expired or already used login state; start the sign-in again")
    pending: dict[str, Any] = json.loads(raw)
    return pending


async def callback(
    session: AsyncSession,
    deps: SsoDeps,
    *,
    state: str | None,
    browser_state: str | None,
    code: str | None,
    iss: str | None,
    error: str | None,
    ip: str | None,
    user_agent: str | None,
) -> SsoLogin:
    """Finish a login: verify the provider's answer, then log the person in (JIT member)."""
    pending = await _take_state(deps, state, browser_state)
    if error:
        reason = error if error.replace("_", "").isalnum() and len(error) <= 64 else "error"
        raise SsoError(f"The identity provider did not sign you in ({reason})")
    if not code or len(code) > MAX_PARAM_LENGTH:
        raise SsoError("The code parameter is missing or malformed")
    org_id = str(pending["org_id"])
    system, connection = await _connection(session, org_id, ip)
    identity = await _identity(deps, connection, pending, code=code, iss=iss)
    email = _allowed_email(identity, connection)
    resolved = await resolve_user(session, system, connection, identity, email)
    user = resolved.user
    context = await system_context(session, org_id, Actor("user", user.id, ip))
    org = await _org(session, context)
    if org.status == "deleting":
        raise SsoError("This organization is being deleted")
    membership, joined = await ensure_membership(session, context, user, connection.default_role)
    await audit.record(
        session,
        context,
        "sso.login",
        "user",
        user.id,
        email=email,
        sub=identity.sub,
        joined=joined,
        account=resolved.how,
    )
    # Scoped to this org: its provider vouches for this org only, never for the user's roles in
    # other orgs (which they reach by password or by those orgs' own SSO).
    issued = await issue_session(session, user.id, ip, user_agent, org_id=org_id)
    redirect_to = pending.get("redirect_to")
    return SsoLogin(
        user=user,
        org=org,
        role=membership.role,
        session=issued,
        redirect_to=redirect_to if isinstance(redirect_to, str) else None,
        joined=joined,
    )


async def _identity(
    deps: SsoDeps,
    connection: SsoConnection,
    pending: dict[str, Any],
    *,
    code: str,
    iss: str | None,
) -> OidcIdentity:
    try:
        secret = deps.secret_box.decrypt(connection.client_secret_encrypted)
    except DecryptionError:
        log.error("sso.secret_undecryptable", org_id=connection.org_id, connection=connection.id)
        raise SsoError(
            "This organization's SSO client secret cannot be read; an admin must set it again"
        ) from None
    try:
        metadata = await _metadata(deps, connection)
        check_response_issuer(metadata, iss)
        return await deps.oidc.authenticate(
            metadata,
            RelyingParty(connection.client_id, secret, deps.redirect_uri),
            code=code,
            code_verifier=str(pending["code_verifier"]),
            nonce=str(pending["nonce"]),
        )
    except OidcError as exc:
        log.info("sso.refused", org_id=connection.org_id, reason=str(exc))
        raise SsoError(str(exc)) from None


def _allowed_email(identity: OidcIdentity, connection: SsoConnection) -> str:
    """The verified email, if it belongs to one of the connection's domains."""
    if identity.email is None:
        raise SsoError("The identity provider did not share an email address")
    if not identity.email_verified:
        raise SsoError("The identity provider has not verified this email address")
    try:
        email = normalize_email(identity.email)
    except ValidationError:
        raise SsoError("The identity provider returned a malformed email address") from None
    domain = email.rpartition("@")[2]
    try:
        domain = normalize_domain(domain)
    except ValidationError:
        raise SsoError("The identity provider returned a malformed email address") from None
    if domain not in connection.domains:
        raise SsoDomainNotAllowedError(
            f"{domain} is not one of this organization's single sign-on domains", domain=domain
        )
    return email
