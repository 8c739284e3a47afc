"""Silences: label matchers (`=`, `!=`, `=~`, `!~`) over a time window, per project.

Regular expressions are anchored (a full match, as in Alertmanager) and bounded in length. They
run on RE2, as Alertmanager's and Prometheus' do: matching is linear in the input, so a tenant's
pattern cannot make the dispatcher backtrack for ever (no `(a+)+` catastrophe), and the syntax
is the one those tools accept (no backreferences or lookaround).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import re2
from sqlalchemy.ext.asyncio import AsyncSession

from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from telemetry.notifications.models import Silence
from telemetry.notifications.repository import NotificationRepository
from tenancy import audit
from tenancy.context import TenantContext

OPS = ("=", "!=", "=~", "!~")
MAX_MATCHERS = 20
MAX_PATTERN = 256
MAX_DURATION = timedelta(days=365)
MAX_PAGE = 200
_RE2 = re2.Options()
_RE2.log_errors = False  # a tenant's bad pattern is a 422, not a line on stderr
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _check_matchers(matchers: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    if not 1 <= len(matchers) <= MAX_MATCHERS:
        raise ValidationError(f"matchers: give 1 to {MAX_MATCHERS}", field="matchers")
    checked = []
    for index, matcher in enumerate(matchers):
        field = f"matchers[{index}]"
        label, op, value = matcher["label"], matcher["op"], matcher["value"]
        if not _LABEL.fullmatch(label):
            raise ValidationError(f"{field}.label: a label name", field=f"{field}.label")
        if op not in OPS:
            raise ValidationError(f"{field}.op: one of {', '.join(OPS)}", field=f"{field}.op")
        if len(value) > MAX_PATTERN:
            raise ValidationError(
                f"{field}.value: at most {MAX_PATTERN} characters", field=f"{field}.value"
            )
        if op in ("=~", "!~"):
            try:
                re2.compile(value, _RE2)
            except re2.error:
                raise ValidationError(
                    f"{field}.value: not a regular expression (RE2 syntax)", field=f"{field}.value"
                ) from None
        checked.append({"label": label, "op": op, "value": value})
    return checked


def matches(matchers: Sequence[Mapping[str, str]], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches the label set (a missing label reads as empty)."""
    for matcher in matchers:
        actual, op, value = (
            labels.get(matcher["label"], ""),
            matcher["op"],
            matcher["value"],
        )
        if op == "=":
            ok = actual == value
        elif op == "!=":
            ok = actual != value
        else:
            found = re2.compile(value, _RE2).fullmatch(actual) is not None
            ok = found if op == "=~" else not found
        if not ok:
            return False
    return True


def state(silence: Silence, now: datetime) -> str:
    """pending, active or expired."""
    if now < silence.starts_at:
        return "pending"
    return "active" if now < silence.ends_at else "expired"


async def create(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    matchers: Sequence[Mapping[str, str]],
    starts_at: datetime | None,
    ends_at: datetime,
    comment: str,
) -> Silence:
    """A new silence of the project; audited."""
    now = datetime.now(UTC)
    starts = starts_at or now
    if starts.tzinfo is None or ends_at.tzinfo is None:
        raise ValidationError("ends_at: times need a timezone (e.g. Z)", field="ends_at")
    if ends_at <= max(starts, now):
        raise ValidationError("ends_at: must be after starts_at and in the future", field="ends_at")
    if ends_at - starts > MAX_DURATION:
        raise ValidationError("ends_at: a silence lasts at most 365 days", field="ends_at")
    silence = Silence(
        id=new_id("sil"),
        project_id=project_id,
        matchers=_check_matchers(matchers),
        starts_at=starts,
        ends_at=ends_at,
        comment=comment,
        created_by=context.actor.id,
    )
    await NotificationRepository(session, context).add(silence)
    await audit.record(
        session, context, "silence.created", "silence", silence.id, project_id=project_id
    )
    return silence


async def list_page(
    session: AsyncSession, context: TenantContext, project_id: str, after: str | None, limit: int
) -> Sequence[Silence]:
    """A page of the project's silences, oldest first."""
    after = id_cursor(after, "sil")
    return await NotificationRepository(session, context).silences_page(
        project_id, after, min(limit, MAX_PAGE)
    )


async def delete(
    session: AsyncSession, context: TenantContext, project_id: str, silence_id: str
) -> None:
    """Delete a silence (notifications resume for new events); audited."""
    repository = NotificationRepository(session, context)
    silence = (
        await repository.get(Silence, silence_id) if looks_like_id(silence_id, "sil") else None
    )
    if silence is None or silence.project_id != project_id:
        raise NotFoundError("Silence not found")
    await repository.delete(silence)
    await audit.record(session, context, "silence.deleted", "silence", silence.id)


async def silencing(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    labels: Mapping[str, Any],
    at: datetime,
) -> Silence | None:
    """The first active silence whose matchers all match these labels."""
    for silence in await NotificationRepository(session, context).active_silences(project_id, at):
        if matches(silence.matchers, {str(k): str(v) for k, v in labels.items()}):
            return silence
    return None
