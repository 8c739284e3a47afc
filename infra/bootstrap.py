"""Create the database and the app's login role, then migrate as the owner."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from infra import migrations
from infra.settings import Settings

RUNTIME_ROLE = "tollgate_runtime"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    """A SQL identifier we create ourselves; refuse anything that would need quoting."""
    if not _IDENT.match(name):
        raise ValueError(f"unsupported identifier {name!r}: use lowercase letters, digits and _")
    return name


async def ensure_database(admin_url: str) -> None:
    """Create the target database if it does not exist yet."""
    url = make_url(admin_url)
    database = _ident(url.database or "")
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            )
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        await engine.dispose()


async def ensure_app_role(admin_url: str, app_url: str) -> None:
    """Create the app's login role (non-owner, no RLS bypass) as a member of the runtime role."""
    app = make_url(app_url)
    user = _ident(app.username or "")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": user}
            )
            password = (app.password or "").replace("'", "''")
            login = f"LOGIN PASSWORD '{password}'" if password else "LOGIN"
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(text(f'{verb} ROLE "{user}" {login} NOSUPERUSER NOBYPASSRLS'))
            await conn.execute(text(f'GRANT "{RUNTIME_ROLE}" TO "{user}"'))
    finally:
        await engine.dispose()


def migrate(
    settings: Settings, *, admin_url: str | None = None, app_url: str | None = None
) -> None:
    """Bring a database to the latest schema and make sure the app can log in to it."""
    admin = admin_url or settings.database_admin_url
    asyncio.run(ensure_database(admin))
    migrations.upgrade(admin, RUNTIME_ROLE)
    asyncio.run(ensure_app_role(admin, app_url or settings.database_url))
