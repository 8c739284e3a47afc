import { describe, expect, it } from "vitest";
import { compact, duration, fraction, units, utc } from "./format";
import { markPosition, searchBody } from "./logquery";
import { can, grantableRoles } from "./roles";
import { match, queryParam } from "./router";
import { snippets, snippetsFor } from "./snippets";
import { totals, usageSeries } from "./usage";
import { waterfall } from "./waterfall";
import { matchesKind } from "./pages/Audit";
import { changeSummary } from "./pages/Billing";
import { align, MAX_SERIES, seriesLabel, stepFor } from "./promql";
import { expiresAt } from "./pages/Project";
import { safeNext } from "./pages/Auth";
import { consoleInviteUrl } from "./pages/Members";
import type { Span } from "./types";

describe("router", () => {
  it("matches patterns and decodes params", () => {
    expect(match("/orgs/:org/projects/:project", "/orgs/acme/projects/prj_1?x=1")).toEqual({
      org: "acme",
      project: "prj_1",
    });
    expect(match("/orgs/:org", "/orgs/a%20b")).toEqual({ org: "a b" });
    expect(match("/orgs/:org", "/orgs/acme/members")).toBeNull();
    expect(match("/orgs/:org", "/other/acme")).toBeNull();
    expect(match("/orgs/:org", "/orgs/%E0%A4%A")).toBeNull();
  });
  it("reads query parameters", () => {
    expect(queryParam("/login?next=%2Forgs%2Fa", "next")).toBe("/orgs/a");
    expect(queryParam("/login", "next")).toBeNull();
  });
  it("follows only console paths after login", () => {
    expect(safeNext("/orgs/a")).toBe("/orgs/a");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});

describe("roles", () => {
  it("mirrors the API's permission table", () => {
    expect(can("viewer", "keys.write")).toBe(false);
    expect(can("viewer", "keys.read")).toBe(false);
    expect(can("member", "keys.write")).toBe(true);
    expect(can("billing", "projects.write")).toBe(false);
    expect(can("admin", "members.manage")).toBe(true);
    expect(can(null, "usage.read")).toBe(false);
  });
  it("grants no role stronger than the granter's", () => {
    expect(grantableRoles("admin")).not.toContain("owner");
    expect(grantableRoles("admin")).not.toContain("billing");
    expect(grantableRoles("owner")).toContain("billing");
    expect(grantableRoles("member")).toEqual([]);
  });
});

describe("snippets", () => {
  const all = snippets("https://t.example", "prj_1", "tgp_secret");
  it("fill in the origin, project and key", () => {
    const otel = all.find((s) => s.id === "otel")?.text ?? "";
    expect(otel).toContain("OTEL_EXPORTER_OTLP_ENDPOINT=https://t.example/p/prj_1/otlp");
    expect(otel).toContain('OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer tgp_secret"');
    const prom = all.find((s) => s.id === "prometheus")?.text ?? "";
    expect(prom).toContain("url: https://t.example/p/prj_1/prometheus/api/v1/write");
    expect(prom).toContain("retry_on_http_429: true");
    expect(all.find((s) => s.id === "curl-logs")?.text).toContain("/p/prj_1/ingest/logs");
  });
  it("show only what the key's scopes allow", () => {
    const ids = snippetsFor("o", "p", "k", ["metrics:write"]).map((s) => s.id);
    expect(ids).toEqual(["prometheus", "vmagent"]);
  });
});

describe("usage", () => {
  const items = [
    { start: "2026-12-04T10:00:00Z", category: "logs", outcome: "accepted", quantity: 5 },
    { start: "2026-12-04T12:00:00Z", category: "logs", outcome: "accepted", quantity: 7 },
    { start: "2026-12-04T12:00:00Z", category: "logs", outcome: "quota_exceeded", quantity: 2 },
    { start: "2026-12-04T12:00:00Z", category: "metrics", outcome: "accepted", quantity: 9 },
  ];
  it("fills every bucket so gaps read as zero", () => {
    const s = usageSeries(items, "logs", new Date("2026-12-04T10:00:00Z"), new Date("2026-12-04T12:30:00Z"), 3600);
    expect(s.x).toHaveLength(3);
    expect(s.ys.accepted).toEqual([5, 0, 7]);
    expect(s.ys.quota_exceeded).toEqual([0, 0, 2]);
    expect(s.ys.rate_limited).toBeUndefined();
  });
  it("totals by category and outcome", () => {
    expect(totals(items)).toEqual({ logs: { accepted: 12, quota_exceeded: 2 }, metrics: { accepted: 9 } });
  });
});

describe("log search", () => {
  const now = new Date("2026-12-04T12:00:00Z");
  it("builds the API's body from the form", () => {
    expect(searchBody({ query: "timeout", level: "", service: " ", range: 1 }, now)).toEqual({
      query: "timeout",
      limit: 50,
      start: "2026-12-04T11:00:00.000Z",
    });
    expect(searchBody({ query: "", level: "ERROR", service: "api", range: 4 }, now, "c1")).toEqual({
      query: "",
      limit: 50,
      level: "ERROR",
      service: "api",
      cursor: "c1",
    });
  });
  it("marks the position of a syntax error", () => {
    expect(markPosition("(timeout", 8)).toEqual(["(timeout", " ", ""]);
    expect(markPosition("a ) b", 2)).toEqual(["a ", ")", " b"]);
  });
});

describe("format", () => {
  it("shows numbers, sizes, times and durations", () => {
    expect(compact(999)).toBe("999");
    expect(compact(1_234_567)).toBe("1.23M");
    expect(units("logs", 1e9)).toBe("1.00GB");
    expect(utc("2026-12-04T17:58:01.123Z")).toBe("2026-12-04 17:58:01 UTC");
    expect(utc(null)).toBe("—");
    expect(duration(1_500_000)).toBe("1.50 ms");
    expect(duration(2_000_000_000)).toBe("2.00 s");
    expect(fraction(5, 10)).toBe(0.5);
    expect(fraction(50, 10)).toBe(1);
    expect(fraction(5, null)).toBe(0);
  });
  it("dates key expiries and console invite links", () => {
    expect(expiresAt(null, new Date())).toBeNull();
    expect(expiresAt(7, new Date("2026-12-01T00:00:00Z"))).toBe("2026-12-08T00:00:00.000Z");
    expect(consoleInviteUrl("https://t.example", "tok/1")).toBe("https://t.example/invites/tok%2F1");
  });
});

describe("waterfall", () => {
  const span = (id: string, parent: string | undefined, start: number, end: number, status = "ok"): Span => ({
    trace_id: "t",
    span_id: id,
    parent_span_id: parent,
    name: id,
    start_time: new Date(start).toISOString(),
    end_time: new Date(end).toISOString(),
    duration_ns: (end - start) * 1e6,
    status,
  });
  it("orders children under their parent with offsets and depths", () => {
    const rows = waterfall([
      span("b", "a", 50, 100, "error"),
      span("a", undefined, 0, 100),
      span("c", "a", 10, 20),
      span("orphan", "missing", 20, 30),
    ]);
    expect(rows.map((r) => [r.span.span_id, r.depth])).toEqual([
      ["a", 0],
      ["c", 1],
      ["b", 1],
      ["orphan", 0],
    ]);
    expect(rows[2]?.offset).toBeCloseTo(0.5);
    expect(rows[2]?.width).toBeCloseTo(0.5);
    expect(rows[2]?.error).toBe(true);
  });
  it("shows every span of a parent cycle in bad data, once", () => {
    const rows = waterfall([span("x", "y", 0, 1), span("y", "x", 0, 1)]);
    expect(rows.map((r) => r.span.span_id).sort()).toEqual(["x", "y"]);
  });
});

describe("promql", () => {
  it("aligns range-query series on one time column with gaps as null", () => {
    const aligned = align([
      { metric: { __name__: "up", job: "api", tenant: "org_1", project: "prj_1" }, values: [[10, "1"], [20, "0"]] },
      { metric: { __name__: "up", job: "db", a: "x" }, values: [[20, "1"], [30, "NaN"]] },
    ]);
    expect(aligned.x).toEqual([10, 20, 30]);
    expect(aligned.series[0]).toEqual({ label: 'up{job="api"}', values: [1, 0, null] });
    expect(aligned.series[1]).toEqual({ label: 'up{a="x",job="db"}', values: [null, 1, null] });
  });
  it("keeps at most MAX_SERIES series and picks a step for ~120 points", () => {
    const many = Array.from({ length: MAX_SERIES + 5 }, (_, i) => ({
      metric: { i: String(i) },
      values: [[1, "1"]] as [number, string][],
    }));
    expect(align(many).series).toHaveLength(MAX_SERIES);
    expect(seriesLabel({})).toBe("{}");
    expect(stepFor(3600)).toBe(30);
    expect(stepFor(10)).toBe(1);
  });
});

describe("audit log", () => {
  it("filters loaded events by kind", () => {
    const event = (action: string) => ({
      id: action,
      action,
      actor: { type: "user", id: "usr_1" },
      target: { type: null, id: null },
      ip: null,
      at: "2026-12-04T00:00:00Z",
      data: {},
    });
    expect(matchesKind(event("key.created"), "key")).toBe(true);
    expect(matchesKind(event("keyring.x"), "key")).toBe(false);
    expect(matchesKind(event("org.created"), "")).toBe(true);
  });
});

describe("billing", () => {
  const plans = [
    { code: "free", name: "Free", price: "0.00", currency: "usd", included: {}, retention_days: 7 },
    { code: "pro", name: "Pro", price: "50.00", currency: "usd", included: {}, retention_days: 30 },
  ];
  it("says what a plan change does before it is confirmed", () => {
    expect(changeSummary(plans, "free", "pro")).toContain("prorated");
    expect(changeSummary(plans, "pro", "free")).toContain("end of this period");
    expect(changeSummary(plans, "pro", "pro")).toBe("Only the spend cap changes.");
  });
});
