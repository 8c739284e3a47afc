// Log search requests as the API takes them (POST /p/{p}/logs/search), from the page's controls.

export const TIME_RANGES = [
  { label: "Last 15 minutes", minutes: 15 },
  { label: "Last hour", minutes: 60 },
  { label: "Last 24 hours", minutes: 1440 },
  { label: "Last 7 days", minutes: 10_080 },
  { label: "Everything retained", minutes: null },
] as const;

export const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;

export interface SearchForm {
  query: string;
  level: string;
  service: string;
  range: number;
}

export interface SearchBody {
  query: string;
  limit: number;
  start?: string;
  level?: string;
  service?: string;
  cursor?: string;
}

export const PAGE_SIZE = 50;

export function searchBody(form: SearchForm, now: Date, cursor?: string): SearchBody {
  const body: SearchBody = { query: form.query, limit: PAGE_SIZE };
  const minutes = TIME_RANGES[form.range]?.minutes ?? null;
  if (minutes !== null) body.start = new Date(now.getTime() - minutes * 60_000).toISOString();
  if (form.level) body.level = form.level;
  if (form.service.trim()) body.service = form.service.trim();
  if (cursor) body.cursor = cursor;
  return body;
}

/** Where a syntax error is: the query split at the API's 0-based `position`. */
export function markPosition(query: string, position: number): [string, string, string] {
  const at = Math.max(0, Math.min(position, query.length));
  return [query.slice(0, at), query.slice(at, at + 1) || " ", query.slice(at + 1)];
}
