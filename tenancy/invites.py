"""Invites: expiring, single-use tokens that add a person to an org with a role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from infra.ids import looks_like_id, new_id, random_base62
from tenancy import audit, keys, verification
from tenancy.accounts import IssuedSession, issue_session, normalize_email
from tenancy.authz import UserPrincipal, require_grantable_role, system_context
from tenancy.context import Actor, TenantContext
from tenancy.errors import EmailUnverifiedError, InviteInvalidError
from tenancy.models import Invite, User
from tenancy.passwords import hash_password
from tenancy.repository import GlobalKeyRepository, InviteRepository, OrgRepository, UserRepository
from tenancy.roles import Role

# Prefixed so that a leaked token is recognisable (the log scrubber removes `tg?_…` anywhere).
INVITE_PREFIX = "tgi_"
INVITE_RANDOM_LENGTH = 40


@dataclass(frozen=True)
class NewInvite:
    """An invite row and its token (shown once, to hand to the invitee)."""

    invite: Invite
    token: str


async def create_invite(
    session: AsyncSession, context: TenantContext, email: str, role: Role, lifetime: timedelta
) -> NewInvite:
    """Invite someone by email with a role the inviter could hold (an admin invites neither an
    owner nor a billing manager); audited."""
    require_grantable_role(context, role)
    token = INVITE_PREFIX + random_base62(INVITE_RANDOM_LENGTH)
    invite = Invite(
        id=new_id("inv"),
        email=normalize_email(email),
        role=role.value,
        token_hash=keys.digest(token),
        expires_at=datetime.now(UTC) + lifetime,
        created_by=context.actor.id,
    )
    await InviteRepository(session, context).add(invite)
    await audit.record(
        session, context, "invite.created", "invite", invite.id, email=invite.email, role=role.value
    )
    return NewInvite(invite, token)


async def pending_invites(session: AsyncSession, context: TenantContext) -> Sequence[Invite]:
    """Invites not yet accepted nor expired."""
    return await InviteRepository(session, context).pending(datetime.now(UTC))


async def cancel_invite(session: AsyncSession, context: TenantContext, invite_id: str) -> None:
    """Withdraw a pending invite; audited."""
    invite = None
    if looks_like_id(invite_id, "inv"):
        invite = await InviteRepository(session, context).get_for_update(invite_id)
    if invite is None or invite.accepted_at is not None:
        raise NotFoundError("Invite not found")
    invite.expires_at = datetime.now(UTC)
    await session.flush()
    await audit.record(session, context, "invite.cancelled", "invite", invite.id)


@dataclass(frozen=True)
class Accepted:
    """The org joined, and a session when the invitee signed up through the invite."""

    org_id: str
    user: User
    session: IssuedSession | None


async def accept_invite(
    session: AsyncSession,
    token: str,
    *,
    principal: UserPrincipal | None,
    password: str | None,
    name: str | None,
    ip: str | None,
    user_agent: str | None,
) -> Accepted:
    """Join an org: as the logged-in invitee, or by creating the invitee's account."""
    found = await GlobalKeyRepository(session).invite_by_hash(keys.digest(token))
    now = datetime.now(UTC)
    # Checked before the account questions, so a used invite is 410 for everyone (its invitee
    # now has an account); checked again under the row lock below.
    if found is None or found["accepted_at"] is not None or found["expires_at"] <= now:
        raise InviteInvalidError("This invite is unknown, used or expired")
    users = UserRepository(session)
    if principal is not None:
        user = await users.by_id(principal.user_id)
        if user is None or user.email != found["email"]:
            raise PermissionDeniedError("This invite was sent to another email address")
        if user.email_verified_at is None:
            # Anyone can sign up with any address: until the mailbox is proven, an account of
            # that address must not collect the roles other orgs grant to it.
            raise EmailUnverifiedError(
                "Verify your email address first (POST /v1/auth/verify-email/resend sends the "
                "link again), then accept the invite"
            )
    else:
        user = await users.by_email(found["email"])
        if user is not None:
            raise ConflictError("An account exists for this email: log in, then accept")
        if not password or not name:
            raise ValidationError("password and name are required to create your account")
        user = User(
            id=new_id("usr"), email=found["email"], name=name, password_hash=hash_password(password)
        )
        await users.add(user)
        # The invite token came from the inviter, not from the mailbox: the new account's
        # address is unproven until it follows the mailed link.
        verification.request_mail(session, user.id)
    context = await system_context(session, found["org_id"], Actor("user", user.id, ip))
    invite = await InviteRepository(session, context).get_for_update(found["id"])
    if invite is None or invite.accepted_at is not None or invite.expires_at <= now:
        raise InviteInvalidError("This invite is unknown, used or expired")
    orgs = OrgRepository(session, context)
    if await orgs.membership(user.id) is not None:
        raise ConflictError("You are already a member of this organization")
    invite.accepted_at = now
    await orgs.add_membership(user.id, invite.role)
    await audit.record(session, context, "invite.accepted", "invite", invite.id, user_id=user.id)
    await audit.record(session, context, "member.added", "user", user.id, role=invite.role)
    issued = None if principal else await issue_session(session, user.id, ip, user_agent)
    return Accepted(found["org_id"], user, issued)
