"""Roles, key scopes and the one permission table that decides every endpoint."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """A member's role in an organization."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    BILLING = "billing"


class Scope(enum.StrEnum):
    """What an API key may do."""

    METRICS_WRITE = "metrics:write"
    LOGS_WRITE = "logs:write"
    TRACES_WRITE = "traces:write"
    METRICS_READ = "metrics:read"
    LOGS_READ = "logs:read"
    TRACES_READ = "traces:read"
    PROJECT_ADMIN = "project:admin"
    ORG_ADMIN = "org:admin"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    HUB = "hub"


class Permission(enum.StrEnum):
    """An action on the control plane."""

    ORG_READ = "org.read"
    ORG_UPDATE = "org.update"
    ORG_DELETE = "org.delete"
    ORG_EXPORT = "org.export"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    PROJECTS_READ = "projects.read"
    PROJECTS_WRITE = "projects.write"
    KEYS_READ = "keys.read"
    KEYS_WRITE = "keys.write"
    ORG_KEYS_MANAGE = "org_keys.manage"
    SSO_MANAGE = "sso.manage"
    AUDIT_READ = "audit.read"
    WEBHOOKS_MANAGE = "webhooks.manage"
    BILLING_READ = "billing.read"
    BILLING_WRITE = "billing.write"


ALL_ROLES = frozenset(Role)
_O, _A, _M, _V, _B = Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.BILLING

# Which member roles hold a permission, and which key scope grants it to an org key (None: no key
# may do it). This table is printed in the README; change both together.
PERMISSIONS: dict[Permission, tuple[frozenset[Role], Scope | None]] = {
    Permission.ORG_READ: (ALL_ROLES, Scope.ORG_ADMIN),
    Permission.ORG_UPDATE: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.ORG_DELETE: (frozenset({_O}), None),
    Permission.ORG_EXPORT: (frozenset({_O, _A}), None),
    Permission.MEMBERS_READ: (ALL_ROLES, Scope.ORG_ADMIN),
    Permission.MEMBERS_MANAGE: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.PROJECTS_READ: (frozenset({_O, _A, _M, _V}), Scope.PROJECT_ADMIN),
    Permission.PROJECTS_WRITE: (frozenset({_O, _A, _M}), Scope.PROJECT_ADMIN),
    Permission.KEYS_READ: (frozenset({_O, _A, _M}), Scope.PROJECT_ADMIN),
    Permission.KEYS_WRITE: (frozenset({_O, _A, _M}), Scope.PROJECT_ADMIN),
    Permission.ORG_KEYS_MANAGE: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.SSO_MANAGE: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.AUDIT_READ: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.WEBHOOKS_MANAGE: (frozenset({_O, _A}), Scope.ORG_ADMIN),
    Permission.BILLING_READ: (frozenset({_O, _A, _B}), Scope.BILLING_READ),
    Permission.BILLING_WRITE: (frozenset({_O, _B}), Scope.BILLING_WRITE),
}

PROJECT_KEY_SCOPES = frozenset(
    {
        Scope.METRICS_WRITE,
        Scope.LOGS_WRITE,
        Scope.TRACES_WRITE,
        Scope.METRICS_READ,
        Scope.LOGS_READ,
        Scope.TRACES_READ,
    }
)
ORG_KEY_SCOPES = frozenset(Scope) - {Scope.HUB}
DEFAULT_PROJECT_KEY_SCOPES = PROJECT_KEY_SCOPES


def role_allows(role: Role, permission: Permission) -> bool:
    """Whether members with this role may do this."""
    return role in PERMISSIONS[permission][0]


def scopes_allow(scopes: frozenset[Scope], permission: Permission) -> bool:
    """Whether an org key with these scopes may do this (org:admin implies project:admin)."""
    needed = PERMISSIONS[permission][1]
    if needed is None:
        return False
    return needed in scopes or (needed is Scope.PROJECT_ADMIN and Scope.ORG_ADMIN in scopes)
