"""Share links: a random `tgd_` token (SHA-256 at rest) that opens one dashboard, read-only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import NotFoundError, ValidationError
from infra.ids import new_id, random_base62
from infra.timeparse import utc_instant
from telemetry.dashboards import service
from telemetry.dashboards.repository import DashboardRepository, ShareRecord, find_share
from telemetry.dashboards.tables import DashboardShare
from tenancy import audit
from tenancy.keys import digest

# `tg?_`-prefixed, so the access log and the log scrubber redact it wherever it appears.
PREFIX: Final = "tgd_"
RANDOM_LENGTH: Final = 40
TOKEN: Final = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH}}}$")
MAX_LIFETIME: Final = timedelta(days=365)
DEFAULT_LIFETIME: Final = timedelta(days=7)


def new_token() -> str:
    """A fresh share token (shown once; only its SHA-256 is kept)."""
    return PREFIX + random_base62(RANDOM_LENGTH)


@dataclass(frozen=True, slots=True)
class NewShare:
    """A share link and its token (shown once)."""

    share: DashboardShare
    token: str


async def create(
    repo: DashboardRepository,
    dashboard_id: str,
    expires_at: datetime | None,
    usage_allowed: bool,
) -> NewShare:
    """A new link to the dashboard; earlier links stay valid until revoked or expired."""
    dashboard = await service.get(repo, dashboard_id)
    now = datetime.now(UTC)
    expires = utc_instant(expires_at, "expires_at") if expires_at else now + DEFAULT_LIFETIME
    if expires <= now or expires > now + MAX_LIFETIME:
        raise ValidationError(
            "expires_at: must be in the future and at most 365 days ahead", field="expires_at"
        )
    token = new_token()
    share = DashboardShare(
        id=new_id("dss"),
        dashboard_id=dashboard.id,
        token_hash=digest(token),
        expires_at=expires,
        usage_allowed=usage_allowed,
        created_by=repo.context.actor.id,
        created_at=now,
    )
    await repo.add_share(share)
    await audit.record(
        repo.session,
        repo.context,
        "dashboard.shared",
        "dashboard",
        dashboard.id,
        share_id=share.id,
        expires_at=expires.isoformat(),
    )
    return NewShare(share, token)


async def revoke(repo: DashboardRepository, dashboard_id: str) -> int:
    """Revoke every link of the dashboard at once; how many were live."""
    dashboard = await service.get(repo, dashboard_id)
    revoked = await repo.revoke_shares(dashboard.id, datetime.now(UTC))
    await audit.record(
        repo.session,
        repo.context,
        "dashboard.unshared",
        "dashboard",
        dashboard.id,
        revoked=revoked,
    )
    return revoked


async def open_link(session: AsyncSession, token: str, now: datetime) -> ShareRecord:
    """The live link of a token; 404 for a malformed, unknown, expired or revoked one."""
    if not TOKEN.match(token):
        raise NotFoundError("Share link not found")
    found = await find_share(session, digest(token))
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        raise NotFoundError("Share link not found")
    return found
