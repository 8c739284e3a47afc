// Who is logged in: `/v1/me` answered through the session cookie, shared by every page.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, ApiError, CSRF_COOKIE, readCookie } from "./api";
import { forgetAllKeys } from "./keystore";
import type { Me, Org } from "./types";

interface SessionState {
  me: Me | null;
  /** True until the first `/v1/me` answer. */
  loading: boolean;
  error: ApiError | undefined;
  refresh: () => Promise<Me | null>;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | undefined>();

  const refresh = useCallback(async (): Promise<Me | null> => {
    try {
      const answer = await api<Me>("/v1/me");
      setMe(answer);
      setError(undefined);
      return answer;
    } catch (caught) {
      setMe(null);
      // 401 is simply "not logged in"; anything else is worth showing.
      if (!(caught instanceof ApiError && caught.status === 401)) {
        setError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
      }
      return null;
    } finally {
      setLoading(false);
    }
  }, []);

  const logout = useCallback(async () => {
    try {
      await api("/v1/auth/logout", { method: "POST" });
    } finally {
      forgetAllKeys();
      setMe(null);
    }
  }, []);

  useEffect(() => {
    let live = true;
    // No CSRF cookie means no session cookie either (login sets both): skip the certain 401.
    const request = readCookie(document.cookie, CSRF_COOKIE) ? api<Me>("/v1/me") : Promise.resolve(null);
    request.then(
      (answer) => {
        if (live) setMe(answer);
      },
      (caught: unknown) => {
        if (live && !(caught instanceof ApiError && caught.status === 401)) {
          setError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
        }
      },
    ).finally(() => {
      if (live) setLoading(false);
    });
    return () => {
      live = false;
    };
  }, []);

  const value = useMemo(
    () => ({ me, loading, error, refresh, logout }),
    [me, loading, error, refresh, logout],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

/** The org of the URL (by slug or id) among the user's orgs; undefined when not a member. */
export function findOrg(me: Me | null, ref: string): Org | undefined {
  return me?.orgs.find((o) => o.slug === ref || o.id === ref);
}

/** Log in with a password and get the session cookie (the token stays out of JavaScript's
 * reach: the answer's token is dropped, the cookie is HttpOnly). */
export async function login(email: string, password: string): Promise<void> {
  await api("/v1/auth/login", { method: "POST", body: { email, password, cookie: true } });
}

interface SignupAnswer {
  token: string;
  org: { slug: string };
  project: { id: string };
}

/** Sign up, then log in for the cookie, and end the bearer session signup opened (the console
 * never keeps a token). */
export async function signup(
  email: string,
  password: string,
  name: string,
  orgName: string,
): Promise<SignupAnswer> {
  const created = await api<SignupAnswer>("/v1/auth/signup", {
    method: "POST",
    body: { email, password, name, org_name: orgName },
  });
  await login(email, password);
  await api("/v1/auth/logout", { method: "POST", key: created.token }).catch(() => undefined);
  return created;
}
