"""Alerting tables: rules, incidents and the incident timeline (all tenant-owned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base
from tenancy.models import TenantOwned

Timestamp = DateTime(timezone=True)

RULE_KINDS = ("metric", "log")
SEVERITIES = ("critical", "warning", "info")
NO_DATA = ("ok", "alerting", "keep")
RULE_STATES = ("inactive", "pending", "firing")
INCIDENT_STATUSES = ("firing", "acknowledged", "resolved")
EVENT_KINDS = (
    "fired",
    "notified",
    "escalated",
    "acknowledged",
    "resolved",
    "silenced",
    "reopened",
)


class AlertRule(TenantOwned, Base):
    """A metric (PromQL on vmalert) or log (query + threshold) rule of one project."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    expr: Mapped[str] = mapped_column(Text)
    # Log rules only: {"op", "value", "window_seconds"}.
    threshold: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    for_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    interval_seconds: Mapped[int] = mapped_column(Integer, server_default="60")
    severity: Mapped[str] = mapped_column(String(16), server_default="warning")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    annotations: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Notification channel ids (validated by the notification code).
    channels: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    escalation_policy: Mapped[str | None] = mapped_column(String(64))
    no_data: Mapped[str] = mapped_column(String(16), server_default="ok")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), server_default="inactive")
    # Log rules: when the condition first held in the current pending run.
    pending_since: Mapped[datetime | None] = mapped_column(Timestamp)
    last_evaluation: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # "slo:<id>" for rules an SLO owns; those do not count against the plan's limit.
    generated_by: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class AlertIncident(TenantOwned, Base):
    """One (rule, label set) while it fires; at most one open per fingerprint."""

    __tablename__ = "alert_incidents"
    __table_args__ = (
        Index("ix_alert_incidents_project_id_id", "project_id", "id"),
        Index("ix_alert_incidents_rule_id_fingerprint", "rule_id", "fingerprint"),
        Index(
            "uq_alert_incidents_open",
            "rule_id",
            "fingerprint",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_rules.id", ondelete="CASCADE")
    )
    # SHA-256 hex of the sorted label set (see telemetry.alerting.fingerprint).
    fingerprint: Mapped[str] = mapped_column(String(64))
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    annotations: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    last_fired_at: Mapped[datetime] = mapped_column(Timestamp)
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # vmalert's endsAt: a firing alert not renewed by then is resolved by the sweep.
    ends_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class IncidentEvent(TenantOwned, Base):
    """One entry of an incident's timeline (fired, notified, escalated, acknowledged…)."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_id_id", "incident_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_incidents.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
