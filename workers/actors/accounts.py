"""Account mail actors: verification and password reset links, made and mailed after commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from infra.mail import Mailer, mailer_from_settings
from infra.settings import get_settings
from tenancy import password_reset, verification
from workers.actor import actor

_mailer: Mailer | None = None


def mailer() -> Mailer:
    """The process's mailer, from SMTP_URL (made on first use)."""
    global _mailer
    if _mailer is None:
        _mailer = mailer_from_settings(get_settings())
    return _mailer


def use_mailer(replacement: Mailer | None) -> None:
    """Swap the mailer (tests point it at their SMTP server)."""
    global _mailer
    _mailer = replacement


# A retry after a failed delivery mails a new token; the unused one expires on its own.
@actor(verification.SEND_ACTOR, max_retries=5)
async def send_verification_mail(session: AsyncSession, user_id: str) -> None:
    """Mail the user a link proving their address (nothing if already verified or gone)."""
    await verification.send_mail(session, mailer(), user_id, get_settings().base_url)


@actor(password_reset.SEND_ACTOR, max_retries=5)
async def send_password_reset_mail(session: AsyncSession, email: str) -> None:
    """Mail a reset link to the account of this address, if there is one."""
    await password_reset.send_mail(session, mailer(), email, get_settings().base_url)
