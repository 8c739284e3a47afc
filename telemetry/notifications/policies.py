"""Escalation policies: ordered steps naming channels to notify while nobody acknowledges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from telemetry.notifications import channels
from telemetry.notifications.models import EscalationPolicy
from telemetry.notifications.repository import NotificationRepository
from tenancy import audit
from tenancy.context import TenantContext

MAX_POLICIES = 50
MAX_STEPS = 10
MAX_AFTER_MINUTES = 7 * 24 * 60
MAX_PAGE = 200


async def _check_steps(
    session: AsyncSession, context: TenantContext, steps: Sequence[Any]
) -> list[dict[str, Any]]:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise ValidationError(f"steps: give 1 to {MAX_STEPS} steps", field="steps")
    checked: list[dict[str, Any]] = []
    previous = -1
    for index, step in enumerate(steps):
        field = f"steps[{index}]"
        after, ids = step["after_minutes"], step["channels"]
        if not 0 <= after <= MAX_AFTER_MINUTES:
            raise ValidationError(
                f"{field}.after_minutes: 0 to {MAX_AFTER_MINUTES}", field=f"{field}.after_minutes"
            )
        if after < previous:
            raise ValidationError(
                f"{field}.after_minutes: steps are ordered; {after} comes before {previous}",
                field=f"{field}.after_minutes",
            )
        if not 1 <= len(ids) <= channels.MAX_CHANNELS:
            raise ValidationError(f"{field}.channels: name at least one", field=f"{field}.channels")
        checked.append(
            {
                "after_minutes": after,
                "channels": await channels.check_ids(session, context, ids, f"{field}.channels"),
            }
        )
        previous = after
    return checked


async def create(
    session: AsyncSession, context: TenantContext, name: str, steps: Sequence[Any]
) -> EscalationPolicy:
    """A new policy; audited."""
    repository = NotificationRepository(session, context)
    if await repository.count(EscalationPolicy) >= MAX_POLICIES:
        raise ValidationError(f"an organization has at most {MAX_POLICIES} escalation policies")
    policy = EscalationPolicy(
        id=new_id("esc"), name=name, steps=await _check_steps(session, context, steps)
    )
    await repository.add(policy)
    await audit.record(
        session, context, "escalation_policy.created", "escalation_policy", policy.id, name=name
    )
    return policy


async def get(session: AsyncSession, context: TenantContext, policy_id: str) -> EscalationPolicy:
    """A policy of the org, or 404."""
    if not looks_like_id(policy_id, "esc"):
        raise NotFoundError("Escalation policy not found")
    policy = await NotificationRepository(session, context).get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFoundError("Escalation policy not found")
    return policy


async def list_page(
    session: AsyncSession, context: TenantContext, after: str | None, limit: int
) -> Sequence[EscalationPolicy]:
    """A page of the org's policies, oldest first."""
    after = id_cursor(after, "esc")
    return await NotificationRepository(session, context).page(
        EscalationPolicy, after, min(limit, MAX_PAGE)
    )


async def update(
    session: AsyncSession,
    context: TenantContext,
    policy_id: str,
    name: str | None,
    steps: Sequence[Any] | None,
) -> EscalationPolicy:
    """Rename or replace the steps; audited."""
    policy = await get(session, context, policy_id)
    if steps is not None:
        policy.steps = await _check_steps(session, context, steps)
    if name is not None:
        policy.name = name
    policy.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session, context, "escalation_policy.updated", "escalation_policy", policy.id
    )
    return policy


async def delete(session: AsyncSession, context: TenantContext, policy_id: str) -> None:
    """Delete a policy (rules naming it stop escalating); audited."""
    policy = await get(session, context, policy_id)
    await NotificationRepository(session, context).delete(policy)
    await audit.record(
        session, context, "escalation_policy.deleted", "escalation_policy", policy.id
    )


async def find(
    session: AsyncSession, context: TenantContext, policy_id: str | None
) -> EscalationPolicy | None:
    """The policy a rule names, if it (still) exists."""
    if not policy_id or not looks_like_id(policy_id, "esc"):
        return None
    return await NotificationRepository(session, context).get(EscalationPolicy, policy_id)
