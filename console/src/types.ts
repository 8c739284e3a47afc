// Shapes of the public API's answers the console reads (see ARCHITECTURE §8; more fields exist).

export type Role = "owner" | "admin" | "member" | "viewer" | "billing";

export interface User {
  id: string;
  email: string;
  name?: string | null;
  /** Set by `/v1/me`: null until the mailed link proved the address. */
  email_verified_at?: string | null;
}

export interface Org {
  id: string;
  slug: string;
  name: string;
  status: string;
  role: Role | null;
}

export interface Me {
  user: User;
  orgs: Org[];
}

export interface Project {
  id: string;
  name: string;
  org_id: string | null;
  created_at: string | null;
}

export interface Key {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  expires_at: string | null;
  kind: string;
  project_id: string | null;
  created_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  key?: string | null;
  previous_valid_until?: string | null;
}

export interface Member {
  user_id: string;
  email: string;
  name: string;
  role: Role;
  joined_at: string;
}

export interface Invite {
  id: string;
  email: string;
  role: Role;
  expires_at: string;
  token?: string | null;
  accept_url?: string | null;
}

export interface CategoryQuota {
  included: number | null;
  used: number;
  remaining: number | null;
  overage: number;
  hard_cap: boolean;
}

export interface Quotas {
  period_start: string;
  period_end: string;
  categories: Record<string, CategoryQuota>;
}

export interface UsageItem {
  start: string;
  category: string;
  outcome: string;
  quantity: number;
  project_id?: string;
}

export interface Subscription {
  plan: string;
  status: string;
  period_start: string;
  period_end: string;
  spend_cap: string | null;
}

export interface LogRecord {
  id: string;
  time: string;
  level: string;
  service?: string;
  body?: string;
  trace_id?: string;
  span_id?: string;
  attributes?: Record<string, unknown>;
}

export interface TraceSummary {
  trace_id: string;
  root_service: string;
  root_name: string;
  start: string;
  duration_ns: number;
  span_count: number;
  error_count: number;
}

export interface Span {
  trace_id: string;
  span_id: string;
  parent_span_id?: string;
  name: string;
  service?: string;
  start_time: string;
  end_time: string;
  duration_ns: number;
  status?: string;
  status_message?: string;
}
