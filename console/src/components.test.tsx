import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "./api";
import { holdKey, forgetAllKeys } from "./keystore";
import { Billing } from "./pages/Billing";
import { Logs } from "./pages/Logs";
import { ProjectPage } from "./pages/Project";
import type { Org } from "./types";

interface Call {
  url: string;
  init: RequestInit;
}

let calls: Call[] = [];

function answer(routes: Record<string, { status: number; body?: unknown }>) {
  calls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn((url: string, init: RequestInit) => {
      calls.push({ url, init });
      const route = routes[`${init.method ?? "GET"} ${url.split("?")[0] ?? ""}`];
      if (!route) return Promise.resolve(new Response("{}", { status: 599 }));
      const body = route.body === undefined ? null : JSON.stringify(route.body);
      return Promise.resolve(
        new Response(body, { status: route.status, headers: { "content-type": "application/problem+json" } }),
      );
    }),
  );
}

const org = (role: Org["role"]): Org => ({ id: "org_1", slug: "acme", name: "Acme", status: "active", role });
const project = { id: "prj_1", name: "Default", org_id: "org_1", created_at: null };

beforeEach(() => {
  document.cookie = "tg_csrf=csrf-123";
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  forgetAllKeys();
});

describe("api()", () => {
  it("echoes the CSRF cookie on unsafe requests only, and sends a key as Bearer", async () => {
    answer({ "POST /v1/x": { status: 201, body: {} }, "GET /v1/x": { status: 200, body: {} } });
    await api("/v1/x", { method: "POST", body: {} });
    await api("/v1/x");
    await api("/v1/x", { key: "tgp_k" });
    const headers = calls.map((c) => c.init.headers as Record<string, string>);
    expect(headers[0]?.["x-csrf-token"]).toBe("csrf-123");
    expect(calls[0]?.init.credentials).toBe("same-origin");
    expect(headers[1]?.["x-csrf-token"]).toBeUndefined();
    expect(headers[2]?.authorization).toBe("Bearer tgp_k");
    expect(calls[2]?.init.credentials).toBe("omit");
  });
  it("turns a problem into its detail", async () => {
    answer({ "GET /v1/x": { status: 422, body: { title: "Invalid", detail: "name: too long", field: "name" } } });
    const error = await api("/v1/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).detail).toBe("name: too long");
    expect((error as ApiError).field).toBe("name");
  });
});

describe("project page", () => {
  it("shows a viewer no create-key button and loads no keys", async () => {
    answer({ "GET /v1/projects/prj_1": { status: 200, body: project } });
    render(<ProjectPage org={org("viewer")} projectId="prj_1" />);
    expect(await screen.findByText(/cannot see or create/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Create key" })).toBeNull();
    expect(calls.map((c) => c.url)).toEqual(["/v1/projects/prj_1"]);
  });
  it("shows a member the create-key form", async () => {
    answer({
      "GET /v1/projects/prj_1": { status: 200, body: project },
      "GET /v1/projects/prj_1/keys": { status: 200, body: { items: [] } },
    });
    render(<ProjectPage org={org("member")} projectId="prj_1" />);
    expect(await screen.findByRole("button", { name: "Create key" })).toBeTruthy();
  });
  it("reads no logs of another tenant's project, even with a key held", async () => {
    answer({ "GET /v1/projects/prj_2": { status: 404, body: { detail: "Project not found" } } });
    holdKey("prj_2", { secret: "tgp_k", scopes: ["logs:read"], name: "k" });
    render(<Logs org={org("owner")} projectId="prj_2" />);
    expect(await screen.findByRole("heading", { name: "Not found" })).toBeTruthy();
    expect(screen.queryByLabelText("Query")).toBeNull();
    expect(calls.map((c) => c.url)).toEqual(["/v1/projects/prj_2"]);
  });
  it("says not found for another tenant's project", async () => {
    answer({ "GET /v1/projects/prj_2": { status: 404, body: { detail: "Project not found" } } });
    render(<ProjectPage org={org("owner")} projectId="prj_2" />);
    expect(await screen.findByRole("heading", { name: "Not found" })).toBeTruthy();
    expect(screen.getByText("Project not found")).toBeTruthy();
  });
});

describe("log search", () => {
  it("shows a syntax error as its detail with the position marked", async () => {
    answer({
      "GET /v1/projects/prj_1": { status: 200, body: project },
      "POST /p/prj_1/logs/search": {
        status: 400,
        body: { title: "Invalid search query", detail: "expected ')'", position: 8 },
      },
    });
    holdKey("prj_1", { secret: "tgp_k", scopes: ["logs:read"], name: "k" });
    render(<Logs org={org("member")} projectId="prj_1" />);
    const query = await screen.findByLabelText("Query");
    fireEvent.change(query, { target: { value: "(timeout" } });
    fireEvent.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => {
      expect(screen.getByRole("alert").textContent).toContain("expected ')'");
    });
    expect(screen.getByLabelText("Error at position 8")).toBeTruthy();
    const search = calls.find((c) => c.url.endsWith("/logs/search"));
    const sent = JSON.parse(search?.init.body as string) as { query: string };
    expect(sent.query).toBe("(timeout");
    expect((search?.init.headers as Record<string, string>).authorization).toBe("Bearer tgp_k");
  });
});

describe("plan change", () => {
  const draft = (total: string) => ({
    id: null,
    period_start: "2026-12-01T00:00:00Z",
    period_end: "2027-01-01T00:00:00Z",
    status: "draft",
    plan: "free",
    lines: [],
    subtotal: total,
    total,
  });
  it("is previewed by the API and applied only on confirmation", async () => {
    answer({
      "GET /v1/plans": {
        status: 200,
        body: [
          { code: "free", name: "Free", price: "0.00", currency: "usd", included: {}, retention_days: 7 },
          { code: "pro", name: "Pro", price: "50.00", currency: "usd", included: {}, retention_days: 30 },
        ],
      },
      "GET /v1/orgs/acme/subscription": {
        status: 200,
        body: { plan: "free", status: "active", period_start: "2026-12-01T00:00:00Z", period_end: "2027-01-01T00:00:00Z", spend_cap: null },
      },
      "GET /v1/orgs/acme/invoices/upcoming": { status: 200, body: draft("0.00") },
      "GET /v1/orgs/acme/invoices": { status: 200, body: { items: [] } },
      "GET /v1/orgs/acme/subscription/preview": {
        status: 200,
        body: {
          plan: "pro",
          change: "upgrade",
          effective_at: "2026-12-15T00:00:00Z",
          payment_method_required: false,
          added: "27.42",
          upcoming_before: draft("0.00"),
          upcoming_after: draft("27.42"),
        },
      },
      "PUT /v1/orgs/acme/subscription": {
        status: 200,
        body: { plan: "pro", status: "active", period_start: "2026-12-01T00:00:00Z", period_end: "2027-01-01T00:00:00Z", spend_cap: null },
      },
    });
    render(<Billing org={org("owner")} />);
    fireEvent.change(await screen.findByLabelText("Plan"), { target: { value: "pro" } });
    fireEvent.click(screen.getByRole("button", { name: "Preview the change" }));
    expect((await screen.findByTestId("preview-summary")).textContent).toBe(
      "pro applies now: the upcoming invoice goes from $0.00 to $27.42 (+$27.42).",
    );
    expect(calls.some((c) => c.url.includes("/subscription/preview?plan=pro"))).toBe(true);
    expect(calls.some((c) => c.init.method === "PUT")).toBe(false);
    fireEvent.click(screen.getByRole("button", { name: "Confirm the change" }));
    await waitFor(() => {
      expect(calls.some((c) => c.init.method === "PUT")).toBe(true);
    });
    const put = calls.find((c) => c.init.method === "PUT");
    expect(JSON.parse(put?.init.body as string)).toEqual({ plan: "pro", spend_cap: null });
  });
});
