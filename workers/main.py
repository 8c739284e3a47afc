"""Entry module for `dramatiq`: the broker and every actor module."""

from __future__ import annotations

from workers.actors import (
    accounts,
    alerting,
    billing,
    hub,
    metering,
    notifications,
    system,
    telemetry,
    tenancy,
    webhooks,
)
from workers.broker import broker

__all__ = [
    "accounts",
    "alerting",
    "billing",
    "broker",
    "hub",
    "metering",
    "notifications",
    "system",
    "telemetry",
    "tenancy",
    "webhooks",
]
