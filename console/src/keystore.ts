// Data-plane reads (log search, traces) authenticate with a project key, not the session. The
// console keeps such a key in memory only, per project, for this tab: it is gone on reload or
// logout, never written to localStorage, sessionStorage or a cookie.
import { useSyncExternalStore } from "react";

export interface HeldKey {
  secret: string;
  scopes: string[];
  name: string;
}

const held = new Map<string, HeldKey>();
const listeners = new Set<() => void>();
let version = 0;

function changed(): void {
  version++;
  for (const listener of listeners) listener();
}

export function holdKey(projectId: string, key: HeldKey): void {
  held.set(projectId, key);
  changed();
}

export function forgetKey(projectId: string): void {
  if (held.delete(projectId)) changed();
}

export function forgetAllKeys(): void {
  held.clear();
  changed();
}

export function heldKey(projectId: string): HeldKey | undefined {
  return held.get(projectId);
}

/** The key held for a project, re-rendering when it changes. */
export function useHeldKey(projectId: string): HeldKey | undefined {
  useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => version,
  );
  return held.get(projectId);
}
