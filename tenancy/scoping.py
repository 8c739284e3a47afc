"""The session backstop: ORM queries on tenant-owned tables need a tenant, and get its filter.

Binding a context also sets `app.org_id` for the transaction, which PostgreSQL's row-level
security policies read; the two walls are independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from tenancy.context import TenantContext
from tenancy.models import Org, TenantOwned

_TENANT = "tenant_org_id"
_RESET = text("SELECT set_config('app.org_id', '', true), set_config('app.user_id', '', true)")
_GLOBAL = "global_scope"


class UnscopedQueryError(RuntimeError):
    """A query on a tenant-owned table was issued with no tenant bound to the session."""


async def bind_tenant(session: AsyncSession, context: TenantContext) -> None:
    """Scope the session (ORM filter) and the transaction (RLS) to the context's org."""
    await session.execute(
        text("SELECT set_config('app.org_id', :org, true)"), {"org": context.org_id}
    )
    session.info[_TENANT] = context.org_id


async def bind_user(session: AsyncSession, user_id: str) -> None:
    """Let RLS show the orgs and memberships of this user (listing their orgs)."""
    await session.execute(text("SELECT set_config('app.user_id', :u, true)"), {"u": user_id})


@contextmanager
def global_scope(session: AsyncSession) -> Iterator[None]:
    """Allow a cross-tenant query for a `Global…` repository; RLS still applies."""
    previous = session.info.get(_GLOBAL, False)
    session.info[_GLOBAL] = True
    try:
        yield
    finally:
        session.info[_GLOBAL] = previous


def _tenant_owned(mapper_class: Any) -> bool:
    return isinstance(mapper_class, type) and (
        issubclass(mapper_class, TenantOwned) or mapper_class is Org
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if not any(_tenant_owned(mapper.class_) for mapper in state.all_mappers):
        return
    session = state.session
    org_id = session.info.get(_TENANT)
    if org_id is None:
        if session.info.get(_GLOBAL):
            return
        raise UnscopedQueryError("tenant-owned query without a TenantContext bound to the session")
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.org_id == org_id, include_aliases=True),
        with_loader_criteria(Org, Org.id == org_id),
    )


@event.listens_for(Session, "after_begin")
def _reset_scope(session: Session, transaction: Any, connection: Any) -> None:
    """Each transaction starts unscoped (ORM and RLS); the request binds its own tenant.

    A savepoint (begin_nested) inside a scoped transaction keeps its tenant.
    """
    if transaction.nested:
        return
    session.info.pop(_TENANT, None)
    connection.execute(_RESET)


@event.listens_for(Session, "after_transaction_end")
def _forget_scope(session: Session, transaction: Any) -> None:
    """A tenant ends with its transaction: the ORM filter of the next one is decided before it
    begins, so a stale tenant would silently filter its first query instead of refusing it."""
    if transaction.parent is None:
        session.info.pop(_TENANT, None)
