// Mailed links carry their token in the URL fragment (`/verify-email#token=tgv_…`): browsers never
// send a fragment to a server, so the token reaches only this page, which posts it in a body.
import { api } from "./api";

/** The `token` of a fragment such as `#token=tgv_…`; null when there is none. */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const token = params.get("token")?.trim();
  return token ? token : null;
}

/** Read the fragment's token once and drop it from the address bar and history. */
export function takeTokenFromLocation(): string | null {
  const token = tokenFromHash(window.location.hash);
  if (token) window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return token;
}

export interface Verified {
  user: { id: string; email: string };
  email_verified_at: string | null;
}

// A token is single use: one request per token, however often a page mounts (React's strict
// mode mounts twice in development).
const verifications = new Map<string, Promise<Verified>>();

export function verifyEmail(token: string): Promise<Verified> {
  let pending = verifications.get(token);
  if (!pending) {
    pending = api<Verified>("/v1/auth/verify-email", { method: "POST", body: { token } });
    verifications.set(token, pending);
  }
  return pending;
}

/** An org slug as the API spells them (lowercase letters, digits, dashes). */
export function slugError(slug: string): string | null {
  if (!slug) return "Enter the organization's slug";
  return /^[a-z0-9][a-z0-9-]{2,63}$/.test(slug)
    ? null
    : "3 to 64 lowercase letters, digits and dashes, starting with a letter or digit";
}

/** Where the SSO login starts: the API redirects to the org's identity provider, then back to
 * `redirectTo` (a console path) with the session cookie. */
export function ssoStartUrl(slug: string, email: string, redirectTo: string): string {
  const query = new URLSearchParams({ redirect_to: redirectTo });
  if (email.trim()) query.set("login_hint", email.trim());
  return `/v1/auth/sso/${encodeURIComponent(slug)}/start?${query.toString()}`;
}
