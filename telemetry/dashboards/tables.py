"""Dashboard tables: the current spec, every earlier version, share links (tenant-owned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base
from tenancy.models import TenantOwned

Timestamp = DateTime(timezone=True)


class Dashboard(TenantOwned, Base):
    """A project's dashboard at its current version."""

    __tablename__ = "dashboards"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class DashboardVersion(TenantOwned, Base):
    """A spec a dashboard had before a PUT or restore replaced it."""

    __tablename__ = "dashboard_versions"
    __table_args__ = (
        UniqueConstraint("dashboard_id", "version", name="uq_dashboard_versions_version"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dashboard_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("dashboards.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class DashboardShare(TenantOwned, Base):
    """A read-only link to one dashboard; only the token's SHA-256 is stored."""

    __tablename__ = "dashboard_shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dashboard_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("dashboards.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    usage_allowed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
