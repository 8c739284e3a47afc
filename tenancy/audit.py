"""Audit log: every mutation of tenant state, with actor, action, target, ip and time."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from infra.cursors import id_cursor
from infra.ids import ID_BODY_LENGTH, base62
from tenancy.context import TenantContext
from tenancy.models import AuditEvent
from tenancy.repository import OrgRepository

_last_id = 0
_id_lock = threading.Lock()


def _event_id() -> str:
    """`new_id("aud")`, but strictly increasing in this process: the log is ordered by id, and
    the events of one request share a millisecond (and a timestamp)."""
    global _last_id
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    with _id_lock:
        value = max(value, _last_id + 1)
        _last_id = value
    return f"aud_{base62(value, ID_BODY_LENGTH)}"


async def record(
    session: AsyncSession,
    context: TenantContext,
    action: str,
    target_type: str,
    target_id: str | None,
    **data: Any,
) -> None:
    """Append one event in the same transaction as the change it describes."""
    await OrgRepository(session, context).add_audit(
        AuditEvent(
            id=_event_id(),
            org_id=context.org_id,
            actor_type=context.actor.type,
            actor_id=context.actor.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=context.actor.ip,
            data=data,
        )
    )


async def page(
    session: AsyncSession, context: TenantContext, cursor: str | None, limit: int
) -> Sequence[AuditEvent]:
    """Events newest first, older than the cursor (the last id of the previous page)."""
    return await OrgRepository(session, context).audit_page(id_cursor(cursor, "aud"), limit)
