// Prometheus range-query answers -> uPlot's aligned columns, and the query's time window.

export interface MatrixResult {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface PromAnswer {
  status: "success" | "error";
  data?: { resultType: string; result: MatrixResult[] };
  error?: string;
}

export interface Aligned {
  x: number[];
  series: { label: string; values: (number | null)[] }[];
}

export const MAX_SERIES = 20;

/** `name{a="1",b="2"}` as Prometheus prints a series, without the `tenant` and `project`
 * labels the gateway puts on every series of the project (the same on all of them). */
export function seriesLabel(metric: Record<string, string>): string {
  const { __name__: name = "", ...labels } = metric;
  const pairs = Object.keys(labels)
    .filter((k) => k !== "tenant" && k !== "project")
    .sort()
    .map((k) => `${k}="${labels[k] ?? ""}"`);
  return pairs.length ? `${name}{${pairs.join(",")}}` : name || "{}";
}

/** One x column (every timestamp of any series) and one y column per series, null where a
 * series has no sample (uPlot draws a gap). At most MAX_SERIES series. */
export function align(result: MatrixResult[]): Aligned {
  const kept = result.slice(0, MAX_SERIES);
  const stamps = new Set<number>();
  for (const r of kept) for (const [t] of r.values) stamps.add(t);
  const x = [...stamps].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const series = kept.map((r) => {
    const values: (number | null)[] = x.map(() => null);
    for (const [t, v] of r.values) {
      const i = index.get(t);
      const n = Number(v);
      if (i !== undefined && Number.isFinite(n)) values[i] = n;
    }
    return { label: seriesLabel(r.metric), values };
  });
  return { x, series };
}

/** A step giving about `points` samples over the range, in whole seconds (at least 1). */
export function stepFor(rangeSeconds: number, points = 120): number {
  return Math.max(1, Math.ceil(rangeSeconds / points));
}
