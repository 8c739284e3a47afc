"""Notification tables: channels, escalation policies, silences, deliveries (tenant-owned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base
from tenancy.models import TenantOwned

Timestamp = DateTime(timezone=True)

CHANNEL_TYPES = ("email", "slack", "pagerduty", "webhook", "sms")
DELIVERY_KINDS = ("trigger", "acknowledge", "resolve", "escalate", "test")
# pending: waiting for its time or a retry; skipped: nothing to say any more (resolved first).
DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")


class NotificationChannel(TenantOwned, Base):
    """Where an org's alerts go; `config` holds public fields, secrets are encrypted apart."""

    __tablename__ = "notification_channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # SecretBox ciphertext of a JSON object (slack url, pagerduty routing key, webhook
    # signing secret, sms token); NULL for channels without secrets (email).
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class EscalationPolicy(TenantOwned, Base):
    """Ordered steps `[{"after_minutes", "channels"}]` for incidents nobody acknowledges."""

    __tablename__ = "escalation_policies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class Silence(TenantOwned, Base):
    """Label matchers of one project whose matching incidents are kept but not notified."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_project_id_ends_at", "project_id", "ends_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE")
    )
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    starts_at: Mapped[datetime] = mapped_column(Timestamp)
    ends_at: Mapped[datetime] = mapped_column(Timestamp)
    comment: Mapped[str] = mapped_column(String(1000), server_default="")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class NotificationDelivery(TenantOwned, Base):
    """One message for one channel about one incident (or a test), and how its attempts went."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_incident", "incident_id", "id"),
        Index("ix_notification_deliveries_group", "group_key", "kind", "scheduled_at"),
        # One escalation message per (incident, step, channel), however often the sweep runs.
        Index(
            "uq_notification_deliveries_escalation",
            "incident_id",
            "step",
            "channel_id",
            unique=True,
            postgresql_where=text("kind = 'escalate'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE")
    )
    incident_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("alert_incidents.id", ondelete="CASCADE")
    )
    # The grouping unit (the rule id): when its first trigger goes out decides the next ones'.
    group_key: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("notification_channels.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[int | None] = mapped_column(Integer)  # escalation step index
    status: Mapped[str] = mapped_column(String(16))
    # The facts the message is rendered from (incident snapshot), fixed when it was queued.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    scheduled_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
