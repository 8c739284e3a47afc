// Numbers, sizes and times as the console shows them (UTC throughout, like the API).

const SI = ["", "k", "M", "G", "T", "P"];

/** 1234567 -> "1.23M"; exact below 1000. */
export function compact(value: number): string {
  let v = Math.abs(value);
  let i = 0;
  while (v >= 1000 && i < SI.length - 1) {
    v /= 1000;
    i++;
  }
  const sign = value < 0 ? "-" : "";
  if (i === 0) return `${sign}${v}`;
  return `${sign}${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${SI[i] ?? ""}`;
}

/** Units of a category: logs are bytes (1 GB = 10^9), the others counts. */
export function units(category: string, value: number): string {
  return category === "logs" ? `${compact(value)}B` : compact(value);
}

/** An ISO time as "2026-12-04 17:58:01 UTC"; "—" for none. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Nanoseconds as "12.3 ms" / "1.20 s". */
export function duration(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1) return `${(ns / 1e3).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Share of a quota used, 0..1 (0 without a limit). */
export function fraction(used: number, included: number | null): number {
  if (!included || included <= 0) return 0;
  return Math.min(1, used / included);
}
