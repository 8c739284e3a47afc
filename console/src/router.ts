// A router of a few lines: the History API, a subscription hook and path patterns. The console
// has a dozen routes and no nested layouts, which does not justify a routing library.
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** The current path with its query string; re-renders on every navigation. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, snapshot);
}

/** Go to a console path (pushes history unless `replace`). */
export function navigate(to: string, replace = false): void {
  if (to === snapshot()) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

export type Params = Record<string, string>;

/** Match `/orgs/:org/projects/:project` against a path (query ignored); null when it does not. */
export function match(pattern: string, location: string): Params | null {
  const path = location.split("?")[0] ?? "";
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? "";
    const g = got[i] ?? "";
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}

/** A query parameter of the current location. */
export function queryParam(location: string, name: string): string | null {
  const query = location.split("?")[1];
  return query ? new URLSearchParams(query).get(name) : null;
}
