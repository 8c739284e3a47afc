"""The permission table: every role and every key scope against every permission, and granting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenancy.roles import (
    ORG_KEY_SCOPES,
    PERMISSIONS,
    PROJECT_KEY_SCOPES,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    Scope,
    held_permissions,
    markdown_table,
    missing_to_grant_role,
    missing_to_grant_scopes,
    role_allows,
    scopes_allow,
)

# Written out by hand, apart from the code: a change to the table must change this too.
# Columns: owner admin member viewer billing.
EXPECTED_ROLES: dict[Permission, str] = {
    Permission.ORG_READ: "OAMVB",
    Permission.ORG_UPDATE: "OA...",
    Permission.ORG_DELETE: "O....",
    Permission.ORG_EXPORT: "OA...",
    Permission.MEMBERS_READ: "OAMVB",
    Permission.MEMBERS_MANAGE: "OA...",
    Permission.INVITES_READ: "OA...",
    Permission.PROJECTS_READ: "OAMV.",
    Permission.PROJECTS_WRITE: "OAM..",
    Permission.KEYS_READ: "OAM..",
    Permission.KEYS_WRITE: "OAM..",
    Permission.ORG_KEYS_MANAGE: "OA...",
    Permission.SSO_MANAGE: "OA...",
    Permission.AUDIT_READ: "OA...",
    Permission.WEBHOOKS_MANAGE: "OA...",
    Permission.USAGE_READ: "OAMVB",
    Permission.BILLING_READ: "OA..B",
    Permission.BILLING_WRITE: "O...B",
    Permission.DASHBOARDS_READ: "OAMVB",
    Permission.DASHBOARDS_WRITE: "OAM..",
    Permission.ALERT_RULES_MANAGE: "OAM..",
    Permission.ALERTS_READ: "OAMV.",
    Permission.ALERTS_MANAGE: "OAM..",
}
ROLE_COLUMNS = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.BILLING]

# Org-key scopes that carry each permission (data-plane scopes carry none).
EXPECTED_SCOPES: dict[Permission, set[Scope]] = {
    Permission.ORG_READ: {Scope.ORG_ADMIN},
    Permission.ORG_UPDATE: {Scope.ORG_ADMIN},
    Permission.ORG_DELETE: set(),
    Permission.ORG_EXPORT: set(),
    Permission.MEMBERS_READ: {Scope.ORG_ADMIN},
    Permission.MEMBERS_MANAGE: {Scope.ORG_ADMIN},
    Permission.INVITES_READ: {Scope.ORG_ADMIN},
    Permission.PROJECTS_READ: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.PROJECTS_WRITE: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.KEYS_READ: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.KEYS_WRITE: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.ORG_KEYS_MANAGE: {Scope.ORG_ADMIN},
    Permission.SSO_MANAGE: {Scope.ORG_ADMIN},
    Permission.AUDIT_READ: {Scope.ORG_ADMIN},
    Permission.WEBHOOKS_MANAGE: {Scope.ORG_ADMIN},
    Permission.USAGE_READ: {Scope.ORG_ADMIN, Scope.BILLING_READ, Scope.BILLING_WRITE},
    Permission.BILLING_READ: {Scope.BILLING_READ, Scope.BILLING_WRITE},
    Permission.BILLING_WRITE: {Scope.BILLING_WRITE},
    Permission.DASHBOARDS_READ: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.DASHBOARDS_WRITE: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.ALERT_RULES_MANAGE: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.ALERTS_READ: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
    Permission.ALERTS_MANAGE: {Scope.ORG_ADMIN, Scope.PROJECT_ADMIN},
}

README = Path(__file__).resolve().parents[2] / "README.md"


class TestTable:
    def test_every_permission_has_a_rule_and_an_expectation(self) -> None:
        assert set(PERMISSIONS) == set(Permission) == set(EXPECTED_ROLES) == set(EXPECTED_SCOPES)

    @pytest.mark.parametrize("permission", list(Permission))
    @pytest.mark.parametrize("role", list(Role))
    def test_role_holds_exactly_what_the_table_says(
        self, role: Role, permission: Permission
    ) -> None:
        expected = EXPECTED_ROLES[permission][ROLE_COLUMNS.index(role)] != "."
        assert role_allows(role, permission) is expected
        assert (permission in held_permissions(role, ())) is expected

    @pytest.mark.parametrize("permission", list(Permission))
    @pytest.mark.parametrize("scope", list(Scope))
    def test_a_key_with_one_scope_holds_exactly_what_the_table_says(
        self, scope: Scope, permission: Permission
    ) -> None:
        assert scopes_allow(frozenset({scope}), permission) is (
            scope in EXPECTED_SCOPES[permission]
        )

    def test_the_owner_holds_everything_and_data_plane_scopes_nothing(self) -> None:
        assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)
        for scope in PROJECT_KEY_SCOPES | {Scope.HUB}:
            assert held_permissions(None, {scope}) == frozenset()

    def test_a_member_role_wins_over_scopes(self) -> None:
        # A session context carries a role; key scopes matter only for keys.
        assert held_permissions(Role.VIEWER, ORG_KEY_SCOPES) == ROLE_PERMISSIONS[Role.VIEWER]


class TestGranting:
    @pytest.mark.parametrize("granted", list(Role))
    @pytest.mark.parametrize("granter", list(Role))
    def test_a_role_is_grantable_only_by_who_holds_all_it_allows(
        self, granter: Role, granted: Role
    ) -> None:
        may = not missing_to_grant_role(ROLE_PERMISSIONS[granter], granted)
        assert may is ROLE_PERMISSIONS[granted].issubset(ROLE_PERMISSIONS[granter])

    def test_admin_grants_neither_owner_nor_billing(self) -> None:
        admin = ROLE_PERMISSIONS[Role.ADMIN]
        assert missing_to_grant_role(admin, Role.OWNER) == {
            Permission.ORG_DELETE,
            Permission.BILLING_WRITE,
        }
        assert missing_to_grant_role(admin, Role.BILLING) == {Permission.BILLING_WRITE}
        for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
            assert not missing_to_grant_role(admin, role), role

    def test_billing_manager_grants_only_billing_and_viewer_powers(self) -> None:
        billing = ROLE_PERMISSIONS[Role.BILLING]
        assert not missing_to_grant_role(billing, Role.BILLING)
        # Project data (projects, alerting) is not a billing manager's to hand out.
        assert missing_to_grant_role(billing, Role.VIEWER) == {
            Permission.PROJECTS_READ,
            Permission.ALERTS_READ,
        }

    def test_admin_mints_no_billing_write_key_and_billing_role_may(self) -> None:
        admin, billing = ROLE_PERMISSIONS[Role.ADMIN], ROLE_PERMISSIONS[Role.BILLING]
        assert missing_to_grant_scopes(admin, {Scope.BILLING_WRITE}) == {Permission.BILLING_WRITE}
        assert not missing_to_grant_scopes(admin, {Scope.ORG_ADMIN, Scope.BILLING_READ})
        assert not missing_to_grant_scopes(billing, {Scope.BILLING_WRITE})

    @pytest.mark.parametrize("scope", sorted(ORG_KEY_SCOPES))
    def test_a_key_grants_its_own_scopes_and_nothing_stronger(self, scope: Scope) -> None:
        held = held_permissions(None, {scope})
        assert not missing_to_grant_scopes(held, {scope})
        stronger = [s for s in ORG_KEY_SCOPES if not held_permissions(None, {s}) <= held]
        for other in stronger:
            assert missing_to_grant_scopes(held, {other}), other


class TestReadmeTable:
    def test_the_generated_table_has_a_row_per_permission(self) -> None:
        rows = markdown_table().splitlines()
        assert len(rows) == 2 + len(Permission)
        assert rows[0].startswith("| permission | owner | admin | member | viewer | billing |")

    def test_the_readme_prints_the_table_of_the_code(self) -> None:
        assert markdown_table() in README.read_text(), (
            "README.md's permission table differs from tenancy.roles: paste markdown_table()"
        )
