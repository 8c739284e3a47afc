"""Keeping vmalert in step with PostgreSQL: render a project's file, reload shards, read state."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.subscriptions import current_tier
from infra.settings import Settings, Tier
from telemetry.alerting import vmalert_files
from telemetry.alerting.repository import RuleRepository
from tenancy.context import TenantContext


async def render_project(
    session: AsyncSession,
    context: TenantContext,
    settings: Settings,
    binary: Path | None,
    project_id: str,
) -> list[tuple[Tier, int]]:
    """Write the project's file where its tier's shard reads it; the shards to reload.

    A file vmalert would refuse is not written: the old one stays and every rule of the
    project shows why (`last_error`).
    """
    rules = await RuleRepository(session, context).of_project(project_id, "metric")
    tier = await current_tier(session, context)
    content = vmalert_files.render(context.org_id, project_id, rules)
    result = vmalert_files.write_project(settings, binary, tier, project_id, content)
    if result.error is not None:
        for rule in rules:
            rule.last_error = f"vmalert refused the project's rules: {result.error}"[:1000]
        await session.flush()
    return result.changed


@dataclass(frozen=True)
class RuleState:
    """What vmalert reports about one rule."""

    state: str
    last_evaluation: datetime | None
    last_error: str | None


def _instant(value: object) -> datetime | None:
    """vmalert's RFC 3339 time (nanoseconds, UTC) to microseconds; None for its zero time."""
    if not isinstance(value, str) or not value:
        return None
    head, _, fraction = value.rstrip("Z").partition(".")
    try:
        when = datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")
    except ValueError:
        return None
    return None if when.year < 2000 else when


def parse_rules(answer: dict[str, Any]) -> dict[str, dict[str, RuleState]]:
    """vmalert's `/api/v1/rules` as {org: {rule id: state}} (from the groups' tenant label)."""
    found: dict[str, dict[str, RuleState]] = defaultdict(dict)
    for group in (answer.get("data") or {}).get("groups") or []:
        org = (group.get("labels") or {}).get("tenant")
        if not org:
            continue
        for rule in group.get("rules") or []:
            name = str(rule.get("name", ""))
            if not name.startswith("alr_"):
                continue
            when = _instant(rule.get("lastEvaluation"))
            found[org][name] = RuleState(
                state=str(rule.get("state") or "inactive"),
                last_evaluation=when,
                last_error=str(rule.get("lastError") or "") or None,
            )
    return found


async def fetch_states(http: httpx.AsyncClient, url: str) -> dict[str, dict[str, RuleState]]:
    """One vmalert's rule states."""
    response = await http.get(f"{url}/api/v1/rules", timeout=5.0)
    response.raise_for_status()
    return parse_rules(response.json())


async def store_states(
    session: AsyncSession, context: TenantContext, states: dict[str, RuleState]
) -> None:
    """Copy vmalert's state, last evaluation and last error onto the org's metric rules."""
    if not states:
        return
    ids = sorted(states)
    await session.execute(
        text(
            "UPDATE alert_rules AS r SET state = u.state, last_evaluation = u.at, "
            "last_error = u.err FROM unnest(CAST(:ids AS text[]), CAST(:states AS text[]), "
            "CAST(:ats AS timestamptz[]), CAST(:errs AS text[])) AS u(id, state, at, err) "
            "WHERE r.id = u.id AND r.org_id = :org AND r.kind = 'metric'"
        ),
        {
            "ids": ids,
            "states": [states[i].state for i in ids],
            "ats": [states[i].last_evaluation for i in ids],
            "errs": [states[i].last_error for i in ids],
            "org": context.org_id,
        },
    )
