// What each role may do, as the API's permission table says (tenancy/roles.py; the README's
// Permissions table). The console hides what a role may not do; the API refuses it anyway.
import type { Role } from "./types";

export type Action =
  | "projects.write"
  | "keys.read"
  | "keys.write"
  | "members.manage"
  | "invites.read"
  | "usage.read"
  | "org.update"
  | "audit.read"
  | "billing.read"
  | "billing.write"
  | "sso.manage"
  | "webhooks.manage"
  | "org.delete"
  | "org.export"
  | "org_keys.manage";

const ALL: readonly Role[] = ["owner", "admin", "member", "viewer", "billing"];

const TABLE: Record<Action, readonly Role[]> = {
  "projects.write": ["owner", "admin", "member"],
  "keys.read": ["owner", "admin", "member"],
  "keys.write": ["owner", "admin", "member"],
  "members.manage": ["owner", "admin"],
  "invites.read": ["owner", "admin"],
  "usage.read": ALL,
  "org.update": ["owner", "admin"],
  "audit.read": ["owner", "admin"],
  "billing.read": ["owner", "admin", "billing"],
  "billing.write": ["owner", "billing"],
  "sso.manage": ["owner", "admin"],
  "webhooks.manage": ["owner", "admin"],
  "org.delete": ["owner"],
  "org.export": ["owner", "admin"],
  "org_keys.manage": ["owner", "admin"],
};

export function can(role: Role | null | undefined, action: Action): boolean {
  return role != null && TABLE[action].includes(role);
}

/** Roles a member may grant: the API refuses a role carrying a permission the granter lacks. */
export function grantableRoles(role: Role | null | undefined): Role[] {
  if (role === "owner") return [...ALL];
  if (role === "admin") return ["admin", "member", "viewer"];
  return [];
}

export const PROJECT_SCOPES = [
  "metrics:write",
  "logs:write",
  "traces:write",
  "metrics:read",
  "logs:read",
  "traces:read",
] as const;

/** Scopes an org key may carry (tenancy/roles.py ORG_KEY_SCOPES). */
export const ORG_SCOPES = [
  "org:admin",
  "project:admin",
  "billing:read",
  "billing:write",
  ...PROJECT_SCOPES,
] as const;
