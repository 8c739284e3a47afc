"""Accounts: signup, login, logout, and who am I."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import ValidationError
from infra.ids import new_id, random_base62
from tenancy import audit, keys, verification, webhooks
from tenancy.authz import UserPrincipal, new_org_context
from tenancy.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    SlugTakenError,
    SsoRequiredError,
)
from tenancy.models import Org, Project, User, UserSession
from tenancy.passwords import hash_password, verify_password
from tenancy.repository import GlobalOrgRepository, OrgRepository, ProjectRepository, UserRepository
from tenancy.roles import Role
from tenancy.throttle import LoginThrottle

SESSION_LIFETIME = timedelta(days=14)
DEFAULT_PROJECT_NAME = "Default"


def normalize_email(raw: str) -> str:
    """Syntax-checked, lower-cased email; 422 naming the field otherwise."""
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"email: {exc}", field="email") from None
    return result.normalized.lower()


def slugify(name: str) -> str:
    """A URL-safe slug from an org name (at least 3 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug if len(slug) >= 3 else f"org-{slug}".strip("-")


async def unique_slug(session: AsyncSession, wanted: str) -> str:
    """The wanted slug, or it with a short random suffix when taken."""
    orgs = GlobalOrgRepository(session)
    slug = wanted
    while await orgs.slug_exists(slug):
        slug = f"{wanted[:35]}-{random_base62(4).lower()}"
    return slug


@dataclass(frozen=True)
class IssuedSession:
    """A new session token (shown once) and its CSRF token."""

    token: str
    csrf_token: str
    expires_at: datetime


async def issue_session(
    session: AsyncSession,
    user_id: str,
    ip: str | None,
    user_agent: str | None,
    *,
    org_id: str | None = None,
) -> IssuedSession:
    """Create a login session for a user (with `org_id`: one that acts only in that org)."""
    token = keys.generate(keys.KeyKind.SESSION)
    csrf = random_base62(32)
    expires_at = datetime.now(UTC) + SESSION_LIFETIME
    await UserRepository(session).add_session(
        UserSession(
            id=new_id("ses"),
            user_id=user_id,
            token_hash=keys.digest(token),
            csrf_hash=keys.digest(csrf),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
            org_id=org_id,
            expires_at=expires_at,
        )
    )
    return IssuedSession(token, csrf, expires_at)


async def create_org_for(
    session: AsyncSession, user: User, name: str, slug: str | None, ip: str | None
) -> tuple[Org, Project]:
    """A new org owned by the user, with its default project; audited."""
    org = Org(id=new_id("org"), slug=await unique_slug(session, slug or slugify(name)), name=name)
    if slug and org.slug != slug:
        raise SlugTakenError(f"The slug {slug!r} is taken", field="slug")
    context = await new_org_context(session, user.id, org.id, ip)
    await OrgRepository(session, context).add(org)
    await OrgRepository(session, context).add_membership(user.id, Role.OWNER)
    project = Project(id=new_id("prj"), name=DEFAULT_PROJECT_NAME)
    await ProjectRepository(session, context).add(project)
    await audit.record(session, context, "org.created", "org", org.id, name=name, slug=org.slug)
    await webhooks.emit(session, context, "org.created", webhooks.org_created(org))
    await audit.record(session, context, "member.added", "user", user.id, role=Role.OWNER)
    await audit.record(
        session, context, "project.created", "project", project.id, name=project.name
    )
    return org, project


async def signup(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    org_name: str,
    ip: str | None,
    user_agent: str | None,
    verified: bool = False,
) -> tuple[User, Org, Project, IssuedSession]:
    """Create a user, their org (as owner) and its default project, and log them in.

    The address is unproven until the mailed link is followed, unless `verified` (the operator's
    own demo account) says it is known already.
    """
    email = normalize_email(email)
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise EmailTakenError("An account with this email already exists", field="email")
    user = User(id=new_id("usr"), email=email, name=name, password_hash=hash_password(password))
    if verified:
        verification.mark_verified(user)
    try:
        await users.add(user)
    except IntegrityError:
        raise EmailTakenError("An account with this email already exists", field="email") from None
    if not verified:
        verification.request_mail(session, user.id)
    org, project = await create_org_for(session, user, org_name, None, ip)
    issued = await issue_session(session, user.id, ip, user_agent)
    return user, org, project, issued


def sso_start_url(base_url: str, org_slug: str, email: str) -> str:
    """Where a user of an SSO-enforced domain must go instead of the password form."""
    return f"{base_url}/v1/auth/sso/{org_slug}/start?login_hint={quote(email)}"


async def login(
    session: AsyncSession,
    throttle: LoginThrottle,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    base_url: str,
) -> IssuedSession:
    """Password login: throttled, refused for SSO-enforced domains, constant-time on misses."""
    email = email.strip().lower()
    # Counted before anything is checked: concurrent guesses cannot all pass the limit.
    await throttle.acquire(email, ip)
    domain = email.rpartition("@")[2]
    enforced = await GlobalOrgRepository(session).sso_for_domain(domain) if domain else None
    if enforced is not None and enforced[2]:
        await throttle.release(email, ip)
        start = sso_start_url(base_url, enforced[1], email)
        raise SsoRequiredError(
            f"{domain} signs in with single sign-on", start_url=start, org=enforced[1]
        )
    user = await UserRepository(session).by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentialsError("Wrong email or password")
    await throttle.succeeded(email, ip)
    return await issue_session(session, user.id, ip, user_agent)


async def logout(session: AsyncSession, principal: UserPrincipal) -> None:
    """End the caller's session."""
    await UserRepository(session).revoke_session(principal.session_id, datetime.now(UTC))
