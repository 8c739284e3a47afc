import { describe, expect, it } from "vitest";
import { slugError, ssoStartUrl, tokenFromHash } from "./identity";
import { layout } from "./topology";
import type { Edge } from "./topology";
import { projectTotals, usageSeries } from "./usage";
import { previewSummary } from "./pages/Billing";
import type { ChangePreview, Invoice } from "./pages/Billing";
import { isLocalFlow } from "./pages/Payment";
import { parseDomains } from "./pages/Sso";
import { deliveryState } from "./pages/Webhooks";
import { ApiError } from "./api";

describe("mailed links", () => {
  it("take the token from the fragment only", () => {
    expect(tokenFromHash("#token=tgv_abc123")).toBe("tgv_abc123");
    expect(tokenFromHash("token=tgr_x&other=1")).toBe("tgr_x");
    expect(tokenFromHash("#token=")).toBeNull();
    expect(tokenFromHash("")).toBeNull();
    expect(tokenFromHash("#other=1")).toBeNull();
  });
});

describe("org slugs and the SSO start", () => {
  it("accept what the API accepts", () => {
    expect(slugError("acme-corp")).toBeNull();
    expect(slugError("a1b")).toBeNull();
    expect(slugError("")).not.toBeNull();
    expect(slugError("ab")).not.toBeNull();
    expect(slugError("-acme")).not.toBeNull();
    expect(slugError("Acme")).not.toBeNull();
    expect(slugError("a".repeat(65))).not.toBeNull();
  });
  it("starts at the API with a relative redirect and an optional hint", () => {
    expect(ssoStartUrl("acme", "", "/orgs/acme")).toBe("/v1/auth/sso/acme/start?redirect_to=%2Forgs%2Facme");
    expect(ssoStartUrl("acme", " ada@acme.com ", "/")).toBe(
      "/v1/auth/sso/acme/start?redirect_to=%2F&login_hint=ada%40acme.com",
    );
  });
  it("parses domains typed one per line or with commas", () => {
    expect(parseDomains("Acme.com\nacme.com, eu.acme.com.  \n\n")).toEqual(["acme.com", "eu.acme.com"]);
  });
});

const invoice = (total: string): Invoice => ({
  id: null,
  period_start: "2026-12-01T00:00:00Z",
  period_end: "2027-01-01T00:00:00Z",
  status: "draft",
  plan: "free",
  lines: [],
  subtotal: total,
  total,
});

describe("plan change preview", () => {
  const base: ChangePreview = {
    plan: "pro",
    change: "upgrade",
    effective_at: "2026-12-04T12:00:00Z",
    payment_method_required: false,
    added: "26.00",
    upcoming_before: invoice("0.00"),
    upcoming_after: invoice("26.00"),
  };
  it("says what an upgrade adds now", () => {
    expect(previewSummary(base, "free")).toBe(
      "pro applies now: the upcoming invoice goes from $0.00 to $26.00 (+$26.00).",
    );
  });
  it("says when a downgrade applies", () => {
    const down = { ...base, plan: "free", change: "downgrade" as const, effective_at: "2027-01-01T00:00:00Z" };
    expect(previewSummary(down, "pro")).toContain("pro stays until 2027-01-01 00:00:00 UTC, then free applies");
  });
  it("says nothing changes for the same plan", () => {
    expect(previewSummary({ ...base, change: "none" }, "pro")).toBe(
      "You stay on pro; the upcoming invoice stays at $0.00.",
    );
  });
  it("treats 409 as the local (no Stripe) flow", () => {
    expect(isLocalFlow(new ApiError(409, "Billing is not configured"))).toBe(true);
    expect(isLocalFlow(new ApiError(403, "Forbidden"))).toBe(false);
    expect(isLocalFlow(undefined)).toBe(false);
  });
});

describe("webhook deliveries", () => {
  const d = {
    id: "whd_1",
    event_id: "evt_1",
    event_type: "key.revoked",
    attempts: 1,
    last_status: 500,
    last_error: null,
    next_attempt_at: null,
    delivered_at: null,
    created_at: null,
  };
  it("read as delivered, retrying, queued or failed", () => {
    expect(deliveryState({ ...d, delivered_at: "2026-12-04T10:00:00Z" })).toBe("delivered 2026-12-04 10:00:00 UTC");
    expect(deliveryState({ ...d, next_attempt_at: "2026-12-04T10:00:10Z" })).toBe("retrying 2026-12-04 10:00:10 UTC");
    expect(deliveryState({ ...d, attempts: 0 })).toBe("queued");
    expect(deliveryState(d)).toBe("failed, no retry left");
  });
});

const edge = (parent: string, child: string): Edge => ({
  parent,
  child,
  calls: 1,
  errors: 0,
  error_rate: 0,
  p50_ns: 1,
  p95_ns: 1,
  p99_ns: 1,
});

describe("service map layout", () => {
  it("puts callers left of callees, by the longest path", () => {
    const placed = layout([edge("web", "api"), edge("api", "db"), edge("web", "db")], ["cron"]);
    const column = Object.fromEntries(placed.map((p) => [p.name, p.column]));
    expect(column).toEqual({ api: 1, cron: 0, db: 2, web: 0 });
    const rows = placed.filter((p) => p.column === 0).map((p) => p.row);
    expect(rows.sort()).toEqual([0, 1]);
  });
  it("places every service of a cycle once, and ignores self calls", () => {
    const placed = layout([edge("a", "b"), edge("b", "a"), edge("c", "c")]);
    expect(placed.map((p) => p.name)).toEqual(["a", "b", "c"]);
    expect(placed.every((p) => p.column < 3)).toBe(true);
  });
});

describe("usage by project", () => {
  const items = [
    { start: "2026-12-04T10:00:00Z", category: "logs", outcome: "accepted", quantity: 5, project_id: "prj_a" },
    { start: "2026-12-04T10:00:00Z", category: "logs", outcome: "accepted", quantity: 7, project_id: "prj_b" },
    { start: "2026-12-04T11:00:00Z", category: "logs", outcome: "quota_exceeded", quantity: 2, project_id: "prj_a" },
    { start: "2026-12-04T11:00:00Z", category: "metrics", outcome: "accepted", quantity: 9, project_id: "prj_a" },
  ];
  it("totals a category per project and outcome", () => {
    const byProject = projectTotals(items, "logs");
    expect(byProject.get("prj_a")).toEqual({ accepted: 5, quota_exceeded: 2 });
    expect(byProject.get("prj_b")).toEqual({ accepted: 7 });
  });
  it("charts one project when asked", () => {
    const from = new Date("2026-12-04T10:00:00Z");
    const to = new Date("2026-12-04T11:59:59Z");
    expect(usageSeries(items, "logs", from, to, 3600).ys.accepted).toEqual([12, 0]);
    expect(usageSeries(items, "logs", from, to, 3600, "prj_a").ys.accepted).toEqual([5, 0]);
  });
});
