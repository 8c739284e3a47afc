// A trace's spans as waterfall rows: depth in the span tree, offset and width as shares of the
// trace's duration, children after their parent by start time (orphans at depth 0).
import type { Span } from "./types";

export interface Row {
  span: Span;
  depth: number;
  /** 0..1 of the trace's duration. */
  offset: number;
  width: number;
  error: boolean;
}

function ms(iso: string): number {
  return new Date(iso).getTime();
}

export function waterfall(spans: Span[]): Row[] {
  if (spans.length === 0) return [];
  const start = Math.min(...spans.map((s) => ms(s.start_time)));
  const end = Math.max(...spans.map((s) => ms(s.end_time)));
  const total = Math.max(1, end - start);
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const span of spans) {
    const parent = span.parent_span_id;
    if (parent && ids.has(parent) && parent !== span.span_id) {
      const list = children.get(parent) ?? [];
      list.push(span);
      children.set(parent, list);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a: Span, b: Span) => ms(a.start_time) - ms(b.start_time);
  const rows: Row[] = [];
  const seen = new Set<string>();
  // Iterative depth-first walk (traces can be deep); `seen` guards against cycles in bad data.
  const walk = (from: Span[]) => {
    const stack: [Span, number][] = [...from].sort(byStart).reverse().map((s) => [s, 0]);
    while (stack.length) {
      const next = stack.pop();
      if (!next) break;
      const [span, depth] = next;
      if (seen.has(span.span_id)) continue;
      seen.add(span.span_id);
      rows.push({
        span,
        depth,
        offset: (ms(span.start_time) - start) / total,
        width: Math.max(0.002, (ms(span.end_time) - ms(span.start_time)) / total),
        error: span.status === "error",
      });
      const kids = [...(children.get(span.span_id) ?? [])].sort(byStart).reverse();
      for (const kid of kids) stack.push([kid, depth + 1]);
    }
  };
  walk(roots);
  // Spans only reachable through a parent cycle: shown from the top, never dropped.
  for (const span of [...spans].sort(byStart)) if (!seen.has(span.span_id)) walk([span]);
  return rows;
}
