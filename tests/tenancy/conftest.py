"""Tenancy tests hash passwords with cheap argon2id parameters (see use_fast_password_hashing)."""

from __future__ import annotations

import pytest

from tests.support.tenancy import use_fast_password_hashing


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tenancy test signs people up; keep each hash in the microseconds."""
    use_fast_password_hashing(monkeypatch)
