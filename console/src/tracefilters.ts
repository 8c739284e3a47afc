// The trace list's filters: read from and written to the console URL (a filtered view can be
// shared), and turned into `GET /p/{p}/traces` query parameters.

export interface TraceFilters {
  service: string;
  operation: string;
  /** Milliseconds, as typed ("" = no bound). */
  minMs: string;
  maxMs: string;
  errorsOnly: boolean;
  /** One of TRACE_RANGES' ids ("" = the API's default window). */
  range: string;
}

export const TRACE_RANGES: { id: string; label: string; seconds: number }[] = [
  { id: "15m", label: "Last 15 minutes", seconds: 900 },
  { id: "1h", label: "Last hour", seconds: 3600 },
  { id: "24h", label: "Last 24 hours", seconds: 86_400 },
  { id: "7d", label: "Last 7 days", seconds: 604_800 },
];

export const NO_FILTERS: TraceFilters = { service: "", operation: "", minMs: "", maxMs: "", errorsOnly: false, range: "" };

const MAX_TEXT = 200;

function bound(value: string | null): string {
  const v = (value ?? "").trim();
  return v !== "" && Number.isFinite(Number(v)) && Number(v) >= 0 ? v : "";
}

/** The filters a console URL's query string carries; anything unusable is dropped. */
export function filtersFromQuery(search: string): TraceFilters {
  const q = new URLSearchParams(search.startsWith("?") ? search.slice(1) : search);
  const range = q.get("range") ?? "";
  return {
    service: (q.get("service") ?? "").slice(0, MAX_TEXT),
    operation: (q.get("operation") ?? "").slice(0, MAX_TEXT),
    minMs: bound(q.get("min_duration_ms")),
    maxMs: bound(q.get("max_duration_ms")),
    errorsOnly: q.get("status") === "error",
    range: TRACE_RANGES.some((r) => r.id === range) ? range : "",
  };
}

function pairs(f: TraceFilters): [string, string][] {
  const out: [string, string][] = [];
  if (f.service.trim()) out.push(["service", f.service.trim()]);
  if (f.operation.trim()) out.push(["operation", f.operation.trim()]);
  if (bound(f.minMs)) out.push(["min_duration_ms", bound(f.minMs)]);
  if (bound(f.maxMs)) out.push(["max_duration_ms", bound(f.maxMs)]);
  if (f.errorsOnly) out.push(["status", "error"]);
  return out;
}

/** The console query string of these filters ("" without any), to share the view. */
export function filtersToQuery(f: TraceFilters): string {
  const q = new URLSearchParams(pairs(f));
  if (f.range) q.set("range", f.range);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** `GET /p/{p}/traces` parameters: the same names, the range as a `start` before `now`. */
export function tracesApiQuery(f: TraceFilters, now: Date, limit = 50): string {
  const q = new URLSearchParams(pairs(f));
  const range = TRACE_RANGES.find((r) => r.id === f.range);
  if (range) q.set("start", new Date(now.getTime() - range.seconds * 1000).toISOString());
  q.set("limit", String(limit));
  return q.toString();
}

/** Whether any filter is set. */
export function filtered(f: TraceFilters): boolean {
  return filtersToQuery(f) !== "";
}
