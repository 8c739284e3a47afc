"""SQL of mailed account tokens and of the account changes they allow (not tenant-owned)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.models import EmailToken, User, UserSession


class GlobalEmailTokenRepository:
    """Email verification and password reset tokens, found by hash before anyone logs in."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: EmailToken) -> None:
        """Insert a token row (its hash only)."""
        self.session.add(token)
        await self.session.flush()

    async def by_hash_for_update(
        self, token_hash: bytes, purpose: str
    ) -> tuple[EmailToken, User] | None:
        """A token of this purpose and its user, both locked until the transaction ends."""
        row = (
            await self.session.execute(
                select(EmailToken, User)
                .join(User, User.id == EmailToken.user_id)
                .where(EmailToken.token_hash == token_hash, EmailToken.purpose == purpose)
                .with_for_update()
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def retire_all(self, user_id: str, purpose: str, at: datetime) -> None:
        """Use up every outstanding token of the user for this purpose."""
        await self.session.execute(
            update(EmailToken)
            .where(
                EmailToken.user_id == user_id,
                EmailToken.purpose == purpose,
                EmailToken.used_at.is_(None),
            )
            .values(used_at=at)
        )

    async def revoke_sessions(self, user_id: str, at: datetime) -> int:
        """End every live session of the user; how many were ended."""
        result = await self.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
