"""Password reset by mail: one-hour, single-use links; the request reveals nothing.

Asking for a reset answers the same, and does the same work in the request (queue one job),
whether or not the address has an account: the job looks the address up. Completing a reset
sets the password, proves the address (the link reached it) and ends every session of the user.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.logging import get_logger
from infra.mail import Mail, Mailer
from tenancy import email_tokens
from tenancy.accounts import normalize_email
from tenancy.email_tokens import Purpose
from tenancy.models import User
from tenancy.passwords import hash_password
from tenancy.repository import UserRepository
from tenancy.throttle import AttemptCounter, LoginThrottle, hashed
from tenancy.token_repository import GlobalEmailTokenRepository
from tenancy.verification import mark_verified

log = get_logger(__name__)

SEND_ACTOR = "accounts.send_password_reset_mail"
MAILS_PER_ADDRESS_PER_HOUR = 5


async def request(session: AsyncSession, counter: AttemptCounter, email: str) -> None:
    """Queue a reset mail for the address (at most a few an hour; silently beyond)."""
    email = normalize_email(email)
    # Over the cap the answer does not change: a 429 here would tell nothing about the account,
    # but skipping quietly keeps one answer for every case and stops mail bombing all the same.
    if await counter.take([(hashed("reset-mail", email), MAILS_PER_ADDRESS_PER_HOUR)]) == 0:
        jobs.enqueue(session, SEND_ACTOR, email)


def _mail(user: User, token: str, base_url: str) -> Mail:
    return Mail(
        to=user.email,
        subject="Reset your Tollgate password",
        text=(
            f"Hello {user.name},\n\n"
            "Someone (we hope you) asked to reset the password of this Tollgate account.\n"
            "Choose a new one within the hour by opening:\n\n"
            f"  {base_url}/reset-password#token={token}\n\n"
            f"From a script: POST /v1/auth/password-reset/{token} with the JSON body\n"
            '  {"password": "<new password>"}\n\n'
            "Setting a new password signs out every session of the account. If you did not ask\n"
            "for this, ignore this mail: your password stays as it is.\n"
        ),
    )


async def send_mail(session: AsyncSession, mailer: Mailer, email: str, base_url: str) -> bool:
    """Issue a token, commit it, then mail it; False (and no mail) for an unknown address."""
    user = await UserRepository(session).by_email(email)
    if user is None:
        log.info("password_reset.no_account")
        return False
    token = await email_tokens.issue(session, user, Purpose.PASSWORD_RESET)
    await session.commit()  # the link must work by the time the mail arrives
    await mailer.send(_mail(user, token, base_url))
    return True


async def complete(
    session: AsyncSession, throttle: LoginThrottle, token: str, password: str
) -> User:
    """Set a new password with a reset link; ends every session of the user; 410 if unusable."""
    user = await email_tokens.redeem(session, token, Purpose.PASSWORD_RESET)
    now = datetime.now(UTC)
    user.password_hash = hash_password(password)
    mark_verified(user, now)
    await GlobalEmailTokenRepository(session).revoke_sessions(user.id, now)
    await session.flush()
    await throttle.reset(user.email)
    return user
