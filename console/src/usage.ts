// Usage rows -> chart series and totals: one series per outcome of a category, hourly buckets.
import type { UsageItem } from "./types";

export interface Series {
  /** Seconds since the epoch, ascending, one per bucket (uPlot's x values). */
  x: number[];
  /** Outcome name -> quantity per bucket (0 where nothing was counted). */
  ys: Record<string, number[]>;
}

export const OUTCOMES = [
  "accepted",
  "rate_limited",
  "quota_exceeded",
  "spend_cap",
  "invalid",
  "store_unavailable",
] as const;

/** Fill every bucket from `from` to `to` (so gaps read as zero, not as a line across them). */
export function usageSeries(
  items: UsageItem[],
  category: string,
  from: Date,
  to: Date,
  stepSeconds: number,
  project?: string,
): Series {
  const first = Math.floor(from.getTime() / 1000 / stepSeconds) * stepSeconds;
  const last = Math.floor(to.getTime() / 1000 / stepSeconds) * stepSeconds;
  const x: number[] = [];
  for (let t = first; t <= last; t += stepSeconds) x.push(t);
  const index = new Map(x.map((t, i) => [t, i]));
  const ys: Record<string, number[]> = {};
  for (const item of items) {
    if (item.category !== category) continue;
    if (project && item.project_id !== project) continue;
    const t = Math.floor(new Date(item.start).getTime() / 1000 / stepSeconds) * stepSeconds;
    const i = index.get(t);
    if (i === undefined) continue;
    const row = (ys[item.outcome] ??= x.map(() => 0));
    row[i] = (row[i] ?? 0) + item.quantity;
  }
  return { x, ys };
}

/** category -> outcome -> total quantity. */
export function totals(items: UsageItem[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const item of items) {
    const row = (out[item.category] ??= {});
    row[item.outcome] = (row[item.outcome] ?? 0) + item.quantity;
  }
  return out;
}

/** project id -> outcome -> total quantity of one category (rows without a project under ""). */
export function projectTotals(items: UsageItem[], category: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const item of items) {
    if (item.category !== category) continue;
    const id = item.project_id ?? "";
    const row = out.get(id) ?? {};
    row[item.outcome] = (row[item.outcome] ?? 0) + item.quantity;
    out.set(id, row);
  }
  return out;
}
