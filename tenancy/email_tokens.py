"""Mailed account tokens: single-use, expiring, stored as SHA-256, bound to the address mailed."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from infra.ids import new_id, random_base62
from tenancy import keys
from tenancy.errors import EmailTokenInvalidError
from tenancy.models import EmailToken, User
from tenancy.token_repository import GlobalEmailTokenRepository

TOKEN_RANDOM_LENGTH = 40  # base62: ~238 bits


class Purpose(enum.StrEnum):
    """What a token proves or allows; the prefix makes a leaked one recognisable."""

    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)

    @property
    def prefix(self) -> str:
        """`tgv_` for verification links, `tgr_` for reset links."""
        return "tgv_" if self is Purpose.VERIFY_EMAIL else "tgr_"

    @property
    def lifetime(self) -> timedelta:
        """How long a mailed link works."""
        return timedelta(days=2) if self is Purpose.VERIFY_EMAIL else timedelta(hours=1)


async def issue(session: AsyncSession, user: User, purpose: Purpose) -> str:
    """A new token for the user's current address; only its hash is stored."""
    token = purpose.prefix + random_base62(TOKEN_RANDOM_LENGTH)
    await GlobalEmailTokenRepository(session).add(
        EmailToken(
            id=new_id("etk"),
            user_id=user.id,
            purpose=purpose.value,
            email=user.email,
            token_hash=keys.digest(token),
            expires_at=datetime.now(UTC) + purpose.lifetime,
        )
    )
    return token


async def redeem(session: AsyncSession, token: str, purpose: Purpose) -> User:
    """Use up a token (and every other of its kind for the user); 410 if it cannot be used."""
    repository = GlobalEmailTokenRepository(session)
    found = await repository.by_hash_for_update(keys.digest(token), purpose.value)
    now = datetime.now(UTC)
    if found is None:
        raise EmailTokenInvalidError("This link is unknown, used or expired")
    row, user = found
    # A token proves the mailbox it was sent to: after an address change it proves nothing.
    if row.used_at is not None or row.expires_at <= now or row.email != user.email:
        raise EmailTokenInvalidError("This link is unknown, used or expired")
    await repository.retire_all(user.id, purpose.value, now)
    return user
