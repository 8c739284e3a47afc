"""Who an SSO login is: the account linked to the provider's (issuer, subject), or one to link.

An assertion is matched to an account by email only when the org has proven the email's domain
(DNS TXT, `tenancy.sso_domains`): otherwise any org could point its own provider at anyone's
address. An existing account is linked only if its own email is verified, and the first login
links it by (issuer, subject), so later logins follow the link, not the email. A new account made
this way is verified (the org proved the domain, the provider the address). None of this grants
anything outside the org: the membership is created in the SSO org only, and the session the
login creates is scoped to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from infra.ids import new_id
from infra.oidc import OidcIdentity
from tenancy import audit
from tenancy.context import TenantContext
from tenancy.errors import SsoAccountUnverifiedError, SsoDomainUnverifiedError, SsoError
from tenancy.models import Membership, SsoConnection, SsoIdentity, User
from tenancy.repository import OrgRepository, UserRepository
from tenancy.sso_domains import verified_domains
from tenancy.sso_repository import SsoIdentityRepository

MAX_SUBJECT_LENGTH = 255  # OpenID Connect Core 1.0 §2: `sub` is at most 255 ASCII characters


@dataclass(frozen=True)
class ResolvedUser:
    """The account an assertion logs into, and how it was found."""

    user: User
    how: Literal["linked", "linked_existing", "created"]


async def resolve_user(
    session: AsyncSession,
    context: TenantContext,
    connection: SsoConnection,
    identity: OidcIdentity,
    email: str,
) -> ResolvedUser:
    """The account for this (issuer, subject): its link, else the verified account of that email
    in a verified domain (then linked), else a new account (then linked)."""
    if not identity.sub or len(identity.sub) > MAX_SUBJECT_LENGTH:
        raise SsoError("The identity provider returned a malformed subject")
    identities = SsoIdentityRepository(session, context)
    users = UserRepository(session)
    link = await identities.by_subject(connection.issuer, identity.sub)
    if link is not None:
        linked = await users.by_id(link.user_id)
        if linked is not None:
            return ResolvedUser(linked, "linked")
    domain = email.rpartition("@")[2]
    if domain not in await verified_domains(session, context):
        raise SsoDomainUnverifiedError(
            f"{domain} is not verified by this organization yet: an admin must publish its DNS "
            "TXT record and verify it before its addresses can sign in with single sign-on",
            domain=domain,
        )
    user = await users.by_email(email)
    how: Literal["linked_existing", "created"] = "linked_existing"
    if user is None:
        name = (identity.name or email.partition("@")[0])[:200]
        user = User(
            id=new_id("usr"),
            email=email,
            name=name,
            password_hash=None,
            email_verified_at=datetime.now(UTC),
        )
        await users.add(user)
        how = "created"
    elif user.email_verified_at is None:
        raise SsoAccountUnverifiedError(
            "An account with this email exists but has not verified its address; sign in with "
            "its password and verify the address first, then use single sign-on"
        )
    await identities.add(
        SsoIdentity(
            id=new_id("sid"), issuer=connection.issuer, subject=identity.sub, user_id=user.id
        )
    )
    await audit.record(
        session,
        context,
        "sso.identity_linked",
        "user",
        user.id,
        issuer=connection.issuer,
        sub=identity.sub,
        created=how == "created",
    )
    return ResolvedUser(user, how)


async def ensure_membership(
    session: AsyncSession, context: TenantContext, user: User, role: str
) -> tuple[Membership, bool]:
    """The user's membership, created with `role` (and audited) on their first SSO login."""
    orgs = OrgRepository(session, context)
    membership = await orgs.membership(user.id)
    if membership is not None:
        return membership, False
    membership = await orgs.add_membership(user.id, role)
    await audit.record(session, context, "member.added", "user", user.id, role=role, via="sso")
    return membership, True
