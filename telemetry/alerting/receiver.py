"""vmalert's notifications (Alertmanager API v2 `POST /api/v2/alerts`) turned into incidents.

vmalert sends every active alert on each evaluation with `endsAt` a few intervals ahead, and a
resolved alert with `endsAt` at (or before) the time it resolved. The rule id comes from the
`tollgate_rule_id` label Tollgate renders into each rule; the org is looked up from the rule,
never taken from the payload, and an alert whose `project` label is not its rule's is dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from infra.ids import looks_like_id
from telemetry.alerting import incidents
from telemetry.alerting.errors import MalformedAlertsError
from telemetry.alerting.repository import GlobalAlertingRepository, RuleRepository
from tenancy.authz import system_context
from tenancy.context import Actor

RULE_LABEL: Final = "tollgate_rule_id"
VALUE_ANNOTATION: Final = "tollgate_value"
MAX_ALERTS: Final = 10_000
RECEIVER_ACTOR: Final = Actor("system", "vmalert")

Small = Annotated[str, msgspec.Meta(max_length=10_000)]


class Alert(msgspec.Struct, kw_only=True):
    """One alert as Alertmanager's v2 API takes it."""

    labels: dict[str, Small]
    annotations: dict[str, Small] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: Small = ""


_decoder = msgspec.json.Decoder(Annotated[list[Alert], msgspec.Meta(max_length=MAX_ALERTS)])


@dataclass(frozen=True)
class Outcome:
    """What one notification did."""

    fired: int = 0
    resolved: int = 0
    ignored: int = 0


def decode(body: bytes) -> list[Alert]:
    """The alerts of a request body; 400 when it is not Alertmanager v2 JSON."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedAlertsError(f"not an Alertmanager v2 alert list: {exc}") from None


def _value(annotations: dict[str, str]) -> float | None:
    try:
        value = float(annotations.get(VALUE_ANNOTATION, "nan"))
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


async def receive(
    session: AsyncSession, alerts: list[Alert], now: datetime | None = None
) -> Outcome:
    """Fire, renew or resolve the incident of every alert, each in its rule's org."""
    now = now or datetime.now(UTC)
    by_rule: dict[str, list[Alert]] = defaultdict(list)
    ignored = 0
    for alert in alerts:
        rule_id = alert.labels.get(RULE_LABEL, "")
        if looks_like_id(rule_id, "alr"):
            by_rule[rule_id].append(alert)
        else:
            ignored += 1
    fired = resolved = 0
    lookups = GlobalAlertingRepository(session)
    for rule_id, group in sorted(by_rule.items()):
        org_id = await lookups.rule_org(rule_id)
        if org_id is None:
            ignored += len(group)  # deleted since vmalert last reloaded
            continue
        context = await system_context(session, org_id, RECEIVER_ACTOR)
        rule = await RuleRepository(session, context).by_id(rule_id)
        if rule is None:
            ignored += len(group)
            continue
        for alert in group:
            if alert.labels.get("project") != rule.project_id:
                ignored += 1
                continue
            ends = alert.endsAt.astimezone(UTC) if alert.endsAt else None
            labels = dict(alert.labels)
            if ends is not None and ends <= now:
                if await incidents.resolve_series(session, context, rule, labels, now, "vmalert"):
                    resolved += 1
                continue
            if not rule.enabled:
                ignored += 1
                continue
            annotations = {k: v for k, v in alert.annotations.items() if k != VALUE_ANNOTATION}
            await incidents.fire(
                session, context, rule, labels, annotations, _value(alert.annotations), now, ends
            )
            if rule.state != "firing":
                rule.state = "firing"
            fired += 1
    await session.flush()
    return Outcome(fired, resolved, ignored)
