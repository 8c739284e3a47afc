"""Alembic migrations, run as the database owner; the app connects as a non-owner role."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(admin_url: str, app_role: str) -> Config:
    """An Alembic config bound to the owner's URL and naming the runtime role to grant."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", admin_url.replace("%", "%%"))
    config.attributes["app_role"] = app_role
    return config


def upgrade(admin_url: str, app_role: str, revision: str = "head") -> None:
    """Apply migrations up to a revision."""
    command.upgrade(alembic_config(admin_url, app_role), revision)
