"""Entry module for `dramatiq`: the broker and every actor module."""

from __future__ import annotations

from workers.actors import accounts, billing, metering, system, telemetry, tenancy, webhooks
from workers.broker import broker

__all__ = [
    "accounts",
    "billing",
    "broker",
    "metering",
    "system",
    "telemetry",
    "tenancy",
    "webhooks",
]
