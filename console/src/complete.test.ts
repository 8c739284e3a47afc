import { describe, expect, it } from "vitest";
import { applyCompletion, completionAt, labelPath, suggest } from "./promcomplete";
import { filtersFromQuery, filtersToQuery, NO_FILTERS, tracesApiQuery } from "./tracefilters";

const at = (q: string) => completionAt(q, q.length);

describe("PromQL completion context", () => {
  it("completes a metric name outside braces", () => {
    expect(at("rate(http_re")).toEqual({ kind: "metric", from: 5, prefix: "http_re" });
  });
  it("completes label names inside braces, after a comma too", () => {
    expect(at("up{")).toEqual({ kind: "label", from: 3, prefix: "", metric: "up" });
    expect(at('up{job="api", ins')).toEqual({ kind: "label", from: 14, prefix: "ins", metric: "up" });
    expect(at("sum(rate(x_total{co")).toMatchObject({ kind: "label", prefix: "co", metric: "x_total" });
  });
  it("completes a label value after label=\" and the other matchers", () => {
    expect(at('up{job="ap')).toEqual({ kind: "value", from: 8, prefix: "ap", metric: "up", label: "job" });
    expect(at('up{a="1",job=~"')).toMatchObject({ kind: "value", prefix: "", label: "job" });
    expect(at('{job != "x')).toMatchObject({ kind: "value", label: "job", metric: "" });
  });
  it("uses the cursor, not the end of the text", () => {
    const q = 'up{job="api"} + node_load1';
    expect(completionAt(q, 5)).toMatchObject({ kind: "label", prefix: "jo" });
    expect(completionAt(q, 10)).toMatchObject({ kind: "value", prefix: "ap" });
  });
  it("offers nothing in ranges, numbers, after an operator without a quote, or after a closed brace's string", () => {
    expect(at("rate(x[5m")).toBeNull();
    expect(at("x offset 5m")).toBeNull();
    expect(at("up{job=")).toBeNull();
    expect(at('up{job="a\\"b')).toMatchObject({ kind: "value", prefix: 'a\\"b' });
    expect(at('"just a string')).toBeNull();
  });
});

describe("suggest", () => {
  const names = ["http_requests_total", "process_cpu_seconds_total", "http_duration_seconds", "up"];
  it("puts prefix matches first, then substring matches, case-insensitive", () => {
    expect(suggest(names, "HTTP")).toEqual(["http_requests_total", "http_duration_seconds"]);
    expect(suggest(names, "seconds")).toEqual(["process_cpu_seconds_total", "http_duration_seconds"]);
  });
  it("lists everything for an empty prefix, up to the limit, and drops what is fully typed", () => {
    expect(suggest(names, "", 2)).toEqual(["http_requests_total", "process_cpu_seconds_total"]);
    expect(suggest(names, "up")).toEqual([]);
  });
});

describe("applying a suggestion", () => {
  it("replaces a metric prefix", () => {
    const q = "rate(http_re[5m])";
    const c = completionAt(q, 12);
    expect(c && applyCompletion(q, 12, c, "http_requests_total")).toEqual({ query: "rate(http_requests_total[5m])", cursor: 24 });
  });
  it("adds =\" after a label name so that values follow", () => {
    const q = "up{jo}";
    const c = completionAt(q, 5);
    const next = c && applyCompletion(q, 5, c, "job");
    expect(next).toEqual({ query: 'up{job="}', cursor: 8 });
    expect(next && completionAt(next.query, next.cursor)).toMatchObject({ kind: "value", label: "job", prefix: "" });
  });
  it("escapes a value and closes its string, reusing a closing quote already there", () => {
    const open = 'up{job="';
    const c1 = at(open);
    expect(c1 && applyCompletion(open, open.length, c1, 'a"b')).toEqual({ query: 'up{job="a\\"b"', cursor: 13 });
    const closed = 'up{job="ap"}';
    const c2 = completionAt(closed, 10);
    expect(c2 && applyCompletion(closed, 10, c2, "api")).toEqual({ query: 'up{job="api"}', cursor: 12 });
  });
  it("asks the label API scoped to the metric", () => {
    expect(labelPath({ kind: "metric", from: 0, prefix: "h" })).toBe("label/__name__/values");
    expect(labelPath({ kind: "label", from: 3, prefix: "", metric: "up" })).toBe("labels?match%5B%5D=up");
    expect(labelPath({ kind: "value", from: 3, prefix: "", metric: "", label: "job" })).toBe("label/job/values");
  });
});

describe("trace filters", () => {
  const f = { service: "checkout", operation: "GET /pay", minMs: "250", maxMs: "", errorsOnly: true, range: "24h" };
  it("round-trip through the console URL", () => {
    const q = filtersToQuery(f);
    expect(q).toBe("?service=checkout&operation=GET+%2Fpay&min_duration_ms=250&status=error&range=24h");
    expect(filtersFromQuery(q)).toEqual(f);
    expect(filtersToQuery(NO_FILTERS)).toBe("");
  });
  it("become the API's parameters, the range as a start", () => {
    const q = new URLSearchParams(tracesApiQuery(f, new Date("2026-12-04T12:00:00Z")));
    expect(Object.fromEntries(q)).toEqual({
      service: "checkout",
      operation: "GET /pay",
      min_duration_ms: "250",
      status: "error",
      start: "2026-12-03T12:00:00.000Z",
      limit: "50",
    });
  });
  it("drop what the API would refuse", () => {
    expect(filtersFromQuery("?min_duration_ms=-3&max_duration_ms=abc&range=1y&status=ok")).toEqual(NO_FILTERS);
  });
});
