"""TenantContext: proof that a caller was authenticated and authorized for one org.

Only `tenancy.authz` holds the seal that constructs one; everything tenant-scoped takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from tenancy.roles import Role, Scope

OrgId = NewType("OrgId", str)

_SEAL = object()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user (by session), an API key, the operator or the system."""

    type: str
    id: str | None
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class TenantContext:
    """An org the actor may act in, with the role or key scopes that decide what it may do."""

    org_id: OrgId
    actor: Actor
    role: Role | None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seal is not _SEAL:
            raise TypeError("TenantContext is created only by tenancy.authz")
