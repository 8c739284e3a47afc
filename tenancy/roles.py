"""Roles, key scopes and the one permission table that decides every check.

Every control-plane endpoint declares one `Permission`; a member holds it when the table lists
their role, an org key when it carries one of the listed scopes. Granting follows from the same
table: nobody may grant a role or a key scope that carries a permission they do not hold.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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
    INVITES_READ = "invites.read"
    PROJECTS_READ = "projects.read"
    PROJECTS_WRITE = "projects.write"
    KEYS_READ = "keys.read"
    KEYS_WRITE = "keys.write"
    ORG_KEYS_MANAGE = "org_keys.manage"
    SSO_MANAGE = "sso.manage"
    AUDIT_READ = "audit.read"
    WEBHOOKS_MANAGE = "webhooks.manage"
    USAGE_READ = "usage.read"
    BILLING_READ = "billing.read"
    BILLING_WRITE = "billing.write"
    ALERTS_READ = "alerts.read"
    ALERTS_MANAGE = "alerts.manage"
    ALERT_RULES_MANAGE = "alert_rules.manage"
    DASHBOARDS_READ = "dashboards.read"
    DASHBOARDS_WRITE = "dashboards.write"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who holds a permission: member roles, and the org-key scopes that carry it (none: no key)."""

    roles: frozenset[Role]
    scopes: frozenset[Scope]
    what: str  # the README's wording

    def __post_init__(self) -> None:
        if Scope.HUB in self.scopes or self.scopes & PROJECT_KEY_SCOPES:
            raise ValueError("only org-key scopes carry control-plane permissions")


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

_O, _A, _M, _V, _B = Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.BILLING
_ALL = frozenset(Role)
_ORG, _PRJ = Scope.ORG_ADMIN, Scope.PROJECT_ADMIN
_BR, _BW = Scope.BILLING_READ, Scope.BILLING_WRITE


def _rule(roles: Iterable[Role], scopes: Iterable[Scope], what: str) -> Rule:
    return Rule(frozenset(roles), frozenset(scopes), what)


# THE table. Every scope that carries a permission is listed (org:admin carries what
# project:admin does, billing:write what billing:read does): no implication is hidden in code.
PERMISSIONS: Mapping[Permission, Rule] = {
    Permission.ORG_READ: _rule(_ALL, {_ORG}, "read the org"),
    Permission.ORG_UPDATE: _rule({_O, _A}, {_ORG}, "update the org (name, slug)"),
    Permission.ORG_DELETE: _rule({_O}, (), "delete the org"),
    Permission.ORG_EXPORT: _rule({_O, _A}, (), "export the org"),
    Permission.MEMBERS_READ: _rule(_ALL, {_ORG}, "list members"),
    Permission.MEMBERS_MANAGE: _rule({_O, _A}, {_ORG}, "invite, change and remove members"),
    Permission.INVITES_READ: _rule({_O, _A}, {_ORG}, "list pending invites (invitees' emails)"),
    Permission.PROJECTS_READ: _rule({_O, _A, _M, _V}, {_PRJ, _ORG}, "read projects"),
    Permission.PROJECTS_WRITE: _rule({_O, _A, _M}, {_PRJ, _ORG}, "create, rename, delete projects"),
    Permission.KEYS_READ: _rule({_O, _A, _M}, {_PRJ, _ORG}, "list project keys"),
    Permission.KEYS_WRITE: _rule({_O, _A, _M}, {_PRJ, _ORG}, "create, rotate, revoke project keys"),
    Permission.ORG_KEYS_MANAGE: _rule({_O, _A}, {_ORG}, "manage org keys"),
    Permission.SSO_MANAGE: _rule({_O, _A}, {_ORG}, "configure SSO"),
    Permission.AUDIT_READ: _rule({_O, _A}, {_ORG}, "read the audit log"),
    Permission.WEBHOOKS_MANAGE: _rule({_O, _A}, {_ORG}, "manage webhooks and their deliveries"),
    Permission.USAGE_READ: _rule(_ALL, {_ORG, _BR, _BW}, "read the subscription, quotas and usage"),
    Permission.BILLING_READ: _rule({_O, _A, _B}, {_BR, _BW}, "read invoices"),
    Permission.BILLING_WRITE: _rule(
        {_O, _B}, {_BW}, "change the plan, checkout, portal, scheduled changes"
    ),
    Permission.DASHBOARDS_READ: _rule(_ALL, {_PRJ, _ORG}, "read dashboards and their data"),
    Permission.DASHBOARDS_WRITE: _rule(
        {_O, _A, _M}, {_PRJ, _ORG}, "create, edit, import, share and delete dashboards"
    ),
    Permission.ALERTS_READ: _rule(
        {_O, _A, _M, _V},
        {_PRJ, _ORG},
        "read alert rules, incidents, channels, escalation policies, silences, deliveries",
    ),
    Permission.ALERTS_MANAGE: _rule(
        {_O, _A, _M}, {_PRJ, _ORG}, "manage notification channels, escalation policies, silences"
    ),
    Permission.ALERT_RULES_MANAGE: _rule(
        {_O, _A, _M},
        {_PRJ, _ORG},
        "create, change, delete alert rules; acknowledge, resolve incidents",
    ),
}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    role: frozenset(p for p, rule in PERMISSIONS.items() if role in rule.roles) for role in Role
}
# Data-plane scopes carry no control-plane permission: whoever may write a project's keys
# (keys.write) may hand them out. `hub` belongs to hub keys only.
SCOPE_PERMISSIONS: Mapping[Scope, frozenset[Permission]] = {
    scope: frozenset(p for p, rule in PERMISSIONS.items() if scope in rule.scopes)
    for scope in Scope
}


def held_permissions(role: Role | None, scopes: Iterable[Scope]) -> frozenset[Permission]:
    """What a member with `role` holds, or (no role) an org key with these scopes."""
    if role is not None:
        return ROLE_PERMISSIONS[role]
    return frozenset().union(*(SCOPE_PERMISSIONS[s] for s in scopes))


def role_allows(role: Role, permission: Permission) -> bool:
    """Whether members with this role may do this."""
    return permission in ROLE_PERMISSIONS[role]


def scopes_allow(scopes: Iterable[Scope], permission: Permission) -> bool:
    """Whether an org key with these scopes may do this."""
    return permission in held_permissions(None, scopes)


def missing_to_grant_role(held: frozenset[Permission], role: Role) -> frozenset[Permission]:
    """The permissions `role` carries that the granter does not hold (empty: may grant)."""
    return ROLE_PERMISSIONS[role] - held


def missing_to_grant_scopes(
    held: frozenset[Permission], scopes: Iterable[Scope]
) -> frozenset[Permission]:
    """The permissions these key scopes carry that the granter does not hold."""
    return held_permissions(None, scopes) - held


def markdown_table() -> str:
    """The README's permission table, generated from `PERMISSIONS`."""
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(r.value for r in roles) + " | org-key scopes |",
        "|---" * (len(roles) + 2) + "|",
    ]
    for permission, rule in PERMISSIONS.items():
        marks = " | ".join("✓" if r in rule.roles else "" for r in roles)
        scopes = ", ".join(f"`{s.value}`" for s in Scope if s in rule.scopes) or "—"
        lines.append(f"| {rule.what} (`{permission.value}`) | {marks} | {scopes} |")
    return "\n".join(lines) + "\n"
