// Loading API data into components: one request per (path, version), stale answers dropped.
import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, String(error));
}

/** GET `path` (null: nothing to load yet); `reload()` fetches it again. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<{ key: string; data?: T; error?: ApiError }>({ key: "" });
  const key = `${path ?? ""}#${version}`;
  useEffect(() => {
    if (path === null) return;
    let live = true;
    api<T>(path).then(
      (data) => {
        if (live) setState({ key, data });
      },
      (error: unknown) => {
        if (live) setState({ key, error: asApiError(error) });
      },
    );
    return () => {
      live = false;
    };
  }, [path, key]);
  const reload = useCallback(() => {
    setVersion((v) => v + 1);
  }, []);
  const current = state.key === key;
  return {
    // Keep showing the previous answer while a reload is in flight (no flicker).
    data: state.data,
    error: current ? state.error : undefined,
    loading: path !== null && !current,
    reload,
  };
}

/** Run a mutation: tracks busy and the problem detail of a failure. */
export function useAction(): {
  busy: boolean;
  error: ApiError | undefined;
  run: <T>(action: () => Promise<T>) => Promise<T | undefined>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await action();
    } catch (caught) {
      setError(asApiError(caught));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => {
    setError(undefined);
  }, []);
  return { busy, error, run, clear };
}
