"""Email verification: a mailed single-use link proves the account's address.

Until then the account can sign in and use its own orgs, but SSO does not match it by email and
it cannot join another org through an invite (403 `email_unverified`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.mail import Mail, Mailer
from tenancy import email_tokens
from tenancy.email_tokens import Purpose
from tenancy.errors import AlreadyVerifiedError
from tenancy.models import User
from tenancy.repository import UserRepository

SEND_ACTOR = "accounts.send_verification_mail"


def request_mail(session: AsyncSession, user_id: str) -> None:
    """Mail the user a verification link once this unit of work commits."""
    # Only the id travels: the token is made by the job, so no plaintext token is ever stored.
    jobs.enqueue(session, SEND_ACTOR, user_id)


async def resend(session: AsyncSession, user_id: str) -> None:
    """Mail a fresh link to a logged-in user whose address is not verified yet."""
    user = await UserRepository(session).by_id(user_id)
    if user is not None and user.email_verified_at is not None:
        raise AlreadyVerifiedError("This email address is already verified")
    request_mail(session, user_id)


def mark_verified(user: User, at: datetime | None = None) -> None:
    """Record that the user's current address is proven (keeps the first proof's time)."""
    if user.email_verified_at is None:
        user.email_verified_at = at or datetime.now(UTC)


def _mail(user: User, token: str, base_url: str) -> Mail:
    return Mail(
        to=user.email,
        subject="Confirm your email address for Tollgate",
        text=(
            f"Hello {user.name},\n\n"
            "Confirm that this address is yours by opening this link within 48 hours:\n\n"
            f"  {base_url}/verify-email#token={token}\n\n"
            "From a script: POST /v1/auth/verify-email with the JSON body\n"
            f'  {{"token": "{token}"}}\n\n'
            "If you did not create a Tollgate account, ignore this mail.\n"
        ),
    )


async def send_mail(session: AsyncSession, mailer: Mailer, user_id: str, base_url: str) -> bool:
    """Issue a token, commit it, then mail it; False when there is nothing to send."""
    user = await UserRepository(session).by_id(user_id)
    if user is None or user.email_verified_at is not None:
        return False
    token = await email_tokens.issue(session, user, Purpose.VERIFY_EMAIL)
    await session.commit()  # the link must work by the time the mail arrives
    await mailer.send(_mail(user, token, base_url))
    return True


async def verify(session: AsyncSession, token: str) -> User:
    """Prove the address a verification link was sent to; 410 if the link is not usable."""
    user = await email_tokens.redeem(session, token, Purpose.VERIFY_EMAIL)
    mark_verified(user)
    await session.flush()
    return user
