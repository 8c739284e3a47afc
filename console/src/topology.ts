// The service map's layout: services in columns by call depth (callers left of callees), rows
// in name order; cycles are cut where they close, so every service gets one place.

export interface Edge {
  parent: string;
  child: string;
  calls: number;
  errors: number;
  error_rate: number;
  p50_ns: number;
  p95_ns: number;
  p99_ns: number;
}

export interface Placed {
  name: string;
  column: number;
  row: number;
}

export function layout(edges: Edge[], services: string[] = []): Placed[] {
  const names = [...new Set([...services, ...edges.flatMap((e) => [e.parent, e.child])])].sort();
  const callees = new Map<string, string[]>();
  const called = new Set<string>();
  for (const e of edges) {
    if (e.parent === e.child) continue;
    callees.set(e.parent, [...(callees.get(e.parent) ?? []), e.child]);
    called.add(e.child);
  }
  const depth = new Map<string, number>();
  // Longest path from a root, breadth first; a service is revisited only when it gets deeper,
  // and never deeper than the number of services (a cycle stops there).
  const queue: string[] = names.filter((n) => !called.has(n));
  if (queue.length === 0 && names[0] !== undefined) queue.push(names[0]);
  for (const n of queue) depth.set(n, 0);
  while (queue.length) {
    const name = queue.shift();
    if (name === undefined) break;
    const d = depth.get(name) ?? 0;
    for (const child of callees.get(name) ?? []) {
      if ((depth.get(child) ?? -1) < d + 1 && d + 1 < names.length) {
        depth.set(child, d + 1);
        queue.push(child);
      }
    }
  }
  const rows = new Map<number, number>();
  return names.map((name) => {
    const column = depth.get(name) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    return { name, column, row };
  });
}
