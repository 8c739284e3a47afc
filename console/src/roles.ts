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
  | "billing.write";

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
