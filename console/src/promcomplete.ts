// PromQL completion: what the cursor is in (a metric name, a label name inside `{…}`, or a
// label value after `label="`), the candidates matching it, and the query after choosing one.

export type Completion =
  | { kind: "metric"; from: number; prefix: string }
  | { kind: "label"; from: number; prefix: string; metric: string }
  | { kind: "value"; from: number; prefix: string; metric: string; label: string };

const METRIC_TAIL = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_TAIL = /(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/;
const MATCHER_TAIL = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*$/;

/** The labels the gateway pins on every series of a project: never worth suggesting. */
export const HIDDEN_LABELS = new Set(["tenant", "project", "__name__"]);

/** What to complete at `cursor` in `query`; null where nothing applies (numbers, ranges…). */
export function completionAt(query: string, cursor: number): Completion | null {
  const before = query.slice(0, Math.max(0, Math.min(cursor, query.length)));
  let brace = -1; // index of the open `{`, -1 outside one
  let bracket = false; // inside `[5m]`
  let quote = ""; // the open string's quote character
  let stringStart = -1;
  let stringEnd = -1; // index of the last closing quote inside the braces
  let metric = "";
  for (let i = 0; i < before.length; i++) {
    const c = before[i] ?? "";
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) {
        quote = "";
        stringEnd = i;
      }
    } else if (c === '"' || c === "'" || c === "`") {
      quote = c;
      stringStart = i;
    } else if (c === "{") {
      brace = i;
      stringEnd = -1;
      metric = METRIC_TAIL.exec(before.slice(0, i).trimEnd())?.[0] ?? "";
    } else if (c === "}") brace = -1;
    else if (c === "[") bracket = true;
    else if (c === "]") bracket = false;
  }
  if (bracket) return null;
  if (brace >= 0 && quote) {
    const label = MATCHER_TAIL.exec(before.slice(brace + 1, stringStart))?.[1];
    return label ? { kind: "value", from: stringStart + 1, prefix: before.slice(stringStart + 1), metric, label } : null;
  }
  if (brace >= 0) {
    const tail = before.slice(Math.max(brace, stringEnd) + 1);
    const m = LABEL_TAIL.exec(tail);
    if (!m) return null;
    const prefix = m[1] ?? "";
    return { kind: "label", from: before.length - prefix.length, prefix, metric };
  }
  if (quote) return null;
  const m = METRIC_TAIL.exec(before);
  if (!m) return null;
  const from = before.length - m[0].length;
  // `5m` in `offset 5m` or a number's exponent: a digit before the token is no metric name
  if (from > 0 && /[0-9.]/.test(before[from - 1] ?? "")) return null;
  return { kind: "metric", from, prefix: m[0] };
}

/** Candidates for `prefix`: those starting with it first, then those containing it. */
export function suggest(candidates: readonly string[], prefix: string, limit = 10): string[] {
  const p = prefix.toLowerCase();
  const starts: string[] = [];
  const contains: string[] = [];
  for (const c of candidates) {
    const l = c.toLowerCase();
    if (l === p && c === prefix) continue; // already typed
    if (l.startsWith(p)) starts.push(c);
    else if (p && l.includes(p)) contains.push(c);
  }
  return [...starts, ...contains].slice(0, limit);
}

function escapeValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The query and cursor after choosing `choice`: a label name gets `="` (values follow), a
 * value is escaped and its string closed. */
export function applyCompletion(
  query: string,
  cursor: number,
  completion: Completion,
  choice: string,
): { query: string; cursor: number } {
  const head = query.slice(0, completion.from);
  let tail = query.slice(cursor);
  let insert = choice;
  if (completion.kind === "label") {
    if (!/^\s*(=|!=|=~|!~)/.test(tail)) insert = `${choice}="`;
  } else if (completion.kind === "value") {
    insert = escapeValue(choice);
    // the rest of the typed value is replaced; keep or add the closing quote
    const close = tail.indexOf('"');
    tail = close >= 0 && !/[,}]/.test(tail.slice(0, close)) ? tail.slice(close) : `"${tail}`;
    return { query: head + insert + tail, cursor: head.length + insert.length + 1 };
  }
  return { query: head + insert + tail, cursor: head.length + insert.length };
}

/** The label API path answering a completion (relative to `/api/v1`), null for metric names. */
export function labelPath(c: Completion): string | null {
  if (c.kind === "metric") return "label/__name__/values";
  const match = c.metric ? `?${new URLSearchParams({ "match[]": c.metric }).toString()}` : "";
  return c.kind === "label" ? `labels${match}` : `label/${encodeURIComponent(c.label)}/values${match}`;
}
