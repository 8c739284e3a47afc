"""Every SQL query of alerting. Scoped repositories take a TenantContext; Global… ones do not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.alerting.models import AlertIncident, AlertRule, IncidentEvent
from tenancy.context import TenantContext


class RuleRepository:
    """Alert rules of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(
        self, project_id: str, rule_id: str, *, for_update: bool = False
    ) -> AlertRule | None:
        """A rule of one project of this org."""
        query = select(AlertRule).where(
            AlertRule.id == rule_id,
            AlertRule.project_id == project_id,
            AlertRule.org_id == self.context.org_id,
        )
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def by_id(self, rule_id: str) -> AlertRule | None:
        """A rule of this org, whatever its project."""
        return await self.session.scalar(
            select(AlertRule).where(
                AlertRule.id == rule_id, AlertRule.org_id == self.context.org_id
            )
        )

    async def page(self, project_id: str, after: str | None, limit: int) -> Sequence[AlertRule]:
        """Rules of a project, oldest first, after the cursor id."""
        query = select(AlertRule).where(
            AlertRule.project_id == project_id, AlertRule.org_id == self.context.org_id
        )
        if after:
            query = query.where(AlertRule.id > after)
        return (await self.session.scalars(query.order_by(AlertRule.id).limit(limit))).all()

    async def of_project(self, project_id: str, kind: str | None = None) -> Sequence[AlertRule]:
        """Every rule of a project (of one kind), oldest first."""
        query = select(AlertRule).where(
            AlertRule.project_id == project_id, AlertRule.org_id == self.context.org_id
        )
        if kind is not None:
            query = query.where(AlertRule.kind == kind)
        return (await self.session.scalars(query.order_by(AlertRule.id))).all()

    async def lock_org(self) -> None:
        """Serialize rule-count checks of this org (a transaction-scoped advisory lock)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('alert_rules:' || :org))"),
            {"org": self.context.org_id},
        )

    async def counted(self, *, enabled_only: bool) -> int:
        """Rules that count against the plan (SLO-generated ones do not)."""
        query = select(func.count()).where(
            AlertRule.org_id == self.context.org_id, AlertRule.generated_by.is_(None)
        )
        if enabled_only:
            query = query.where(AlertRule.enabled.is_(True))
        return int(await self.session.scalar(query) or 0)

    async def counted_rules(self) -> Sequence[AlertRule]:
        """Every counted rule of the org, oldest first (created_at, then id)."""
        query = (
            select(AlertRule)
            .where(AlertRule.org_id == self.context.org_id, AlertRule.generated_by.is_(None))
            .order_by(AlertRule.created_at, AlertRule.id)
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()

    async def add(self, rule: AlertRule) -> None:
        """Insert a rule."""
        self.session.add(rule)
        await self.session.flush()

    async def delete(self, rule: AlertRule) -> None:
        """Delete a rule (its incidents and their timelines go with it)."""
        await self.session.delete(rule)
        await self.session.flush()


class IncidentRepository:
    """Incidents and timelines of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(
        self, project_id: str | None, incident_id: str, *, for_update: bool = False
    ) -> AlertIncident | None:
        """An incident of this org (of one project when given)."""
        query = select(AlertIncident).where(
            AlertIncident.id == incident_id, AlertIncident.org_id == self.context.org_id
        )
        if project_id is not None:
            query = query.where(AlertIncident.project_id == project_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def latest(self, rule_id: str, fingerprint: str) -> AlertIncident | None:
        """The newest incident of a (rule, label set), locked for the state change."""
        query = (
            select(AlertIncident)
            .where(
                AlertIncident.org_id == self.context.org_id,
                AlertIncident.rule_id == rule_id,
                AlertIncident.fingerprint == fingerprint,
            )
            .order_by(AlertIncident.started_at.desc(), AlertIncident.id.desc())
            .limit(1)
            .with_for_update()
        )
        return await self.session.scalar(query)

    async def open_of_rule(self, rule_id: str) -> Sequence[AlertIncident]:
        """The rule's incidents that are not resolved."""
        query = select(AlertIncident).where(
            AlertIncident.org_id == self.context.org_id,
            AlertIncident.rule_id == rule_id,
            AlertIncident.status != "resolved",
        )
        return (await self.session.scalars(query.with_for_update())).all()

    async def page(
        self, project_id: str, status: str | None, before: str | None, limit: int
    ) -> Sequence[AlertIncident]:
        """Incidents of a project, newest first, before the cursor id."""
        query = select(AlertIncident).where(
            AlertIncident.org_id == self.context.org_id, AlertIncident.project_id == project_id
        )
        if status is not None:
            query = query.where(AlertIncident.status == status)
        if before:
            query = query.where(AlertIncident.id < before)
        return (
            await self.session.scalars(query.order_by(AlertIncident.id.desc()).limit(limit))
        ).all()

    async def firing(self, project_id: str) -> Sequence[AlertIncident]:
        """Open incidents of a project (for the Prometheus alerts API)."""
        query = select(AlertIncident).where(
            AlertIncident.org_id == self.context.org_id,
            AlertIncident.project_id == project_id,
            AlertIncident.status != "resolved",
        )
        return (await self.session.scalars(query.order_by(AlertIncident.id).limit(5000))).all()

    async def add(self, incident: AlertIncident) -> None:
        """Insert an incident."""
        self.session.add(incident)
        await self.session.flush()

    async def add_event(self, event: IncidentEvent) -> None:
        """Append a timeline entry."""
        self.session.add(event)
        await self.session.flush()

    async def timeline(self, incident_id: str) -> Sequence[IncidentEvent]:
        """An incident's timeline, oldest first."""
        query = select(IncidentEvent).where(
            IncidentEvent.org_id == self.context.org_id, IncidentEvent.incident_id == incident_id
        )
        return (await self.session.scalars(query.order_by(IncidentEvent.id).limit(1000))).all()


class GlobalAlertingRepository:
    """Cross-org lookups of ids for the workers and the receiver (SECURITY DEFINER functions)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rule_org(self, rule_id: str) -> str | None:
        """The org of a rule, if it exists."""
        found = await self.session.scalar(text("SELECT tg_alert_rule_org(:r)"), {"r": rule_id})
        return str(found) if found is not None else None

    async def metric_projects(self) -> list[tuple[str, str]]:
        """(org, project) of every project with metric rules."""
        rows = await self.session.execute(text("SELECT * FROM tg_alert_metric_projects()"))
        return [(str(org), str(project)) for org, project in rows]

    async def due_log_rules(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """(org, rule) of enabled log rules whose interval has passed."""
        rows = await self.session.execute(
            text("SELECT * FROM tg_alert_due_log_rules(:at, :n)"), {"at": at, "n": limit}
        )
        return [(str(org), str(rule)) for org, rule in rows]

    async def expired_incidents(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """(org, incident) of open incidents whose vmalert endsAt passed without renewal."""
        rows = await self.session.execute(
            text("SELECT * FROM tg_alert_expired_incidents(:at, :n)"), {"at": at, "n": limit}
        )
        return [(str(org), str(incident)) for org, incident in rows]
