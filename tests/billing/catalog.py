"""The §4 plans as `Plan` values (written out in tests/billing/section4.py)."""

from __future__ import annotations

from tests.billing.section4 import FREE, PRO, SCALE

__all__ = ["FREE", "PRO", "SCALE"]
