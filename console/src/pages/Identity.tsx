// Pages reached from mailed links and the login page: verify the address, reset the password
// (request and set), and log in through the org's identity provider (SSO).
import { useEffect, useState } from "react";
import type { SyntheticEvent } from "react";
import { api, ApiError } from "../api";
import { Link } from "../components/Link";
import { ErrorBox, Field, Loading } from "../components/ui";
import { useAction } from "../hooks";
import { slugError, ssoStartUrl, takeTokenFromLocation, verifyEmail } from "../identity";
import type { Verified } from "../identity";
import { useSession } from "../session";
import { AuthFrame } from "./Auth";

/** The mailed token of the address bar, also when a link is opened over this very page (only
 * the fragment changes: no reload). */
function useMailedToken(): string | null {
  const [token, setToken] = useState(takeTokenFromLocation);
  useEffect(() => {
    const changed = () => {
      const next = takeTokenFromLocation();
      if (next) setToken(next);
    };
    window.addEventListener("hashchange", changed);
    return () => {
      window.removeEventListener("hashchange", changed);
    };
  }, []);
  return token;
}

export function VerifyEmail() {
  const { me, refresh } = useSession();
  const token = useMailedToken();
  const [answer, setResult] = useState<{ for?: string; done?: Verified; error?: ApiError }>({});
  const result = answer.for === token ? answer : {};
  useEffect(() => {
    if (!token) return;
    let live = true;
    verifyEmail(token).then(
      (done) => {
        if (!live) return;
        setResult({ for: token, done });
        void refresh();
      },
      (error: unknown) => {
        if (live) setResult({ for: token, error: error instanceof ApiError ? error : new ApiError(0, String(error)) });
      },
    );
    return () => {
      live = false;
    };
  }, [token, refresh]);
  return (
    <AuthFrame title="Verify your email address">
      {!token ? (
        <p role="alert" className="error">
          This page needs the link from the verification mail (it ends with <code>#token=…</code>).
        </p>
      ) : result.done ? (
        <p role="status" className="notice">
          <strong>{result.done.user.email}</strong> is verified. Thank you.
        </p>
      ) : result.error ? (
        <ErrorBox error={result.error} />
      ) : (
        <Loading what="Verifying" />
      )}
      {result.error && me ? <ResendButton /> : null}
      <p>
        <Link href="/">{me ? "Go to your projects" : "Log in"}</Link>
      </p>
    </AuthFrame>
  );
}

/** Mail a new verification link to the logged-in user. */
export function ResendButton() {
  const action = useAction();
  const [sent, setSent] = useState("");
  const resend = async () => {
    const answer = await action.run(() =>
      api<{ detail: string }>("/v1/auth/verify-email/resend", { method: "POST" }),
    );
    if (answer) setSent(answer.detail);
  };
  return (
    <span className="row">
      <button type="button" className="secondary" disabled={action.busy} onClick={() => void resend()}>
        Resend the link
      </button>
      {sent ? <span role="status">{sent}</span> : null}
      <ErrorBox error={action.error} />
    </span>
  );
}

/** Shown to a logged-in user whose address is not proven yet. */
export function VerifyBanner() {
  const { me } = useSession();
  if (!me || me.user.email_verified_at !== null) return null;
  return (
    <div className="notice banner" role="region" aria-label="Email verification">
      <p>
        Please verify <strong>{me.user.email}</strong>: open the link we mailed you. Until then you cannot join
        other organizations through invites or log in with single sign-on.
      </p>
      <ResendButton />
    </div>
  );
}

export function ResetPassword() {
  const token = useMailedToken();
  return token ? <SetPassword key={token} token={token} /> : <RequestReset />;
}

function RequestReset() {
  const action = useAction();
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState("");
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const answer = await action.run(() =>
      api<{ detail: string }>("/v1/auth/password-reset", { method: "POST", body: { email } }),
    );
    if (answer) setSent(answer.detail);
  };
  return (
    <AuthFrame title="Reset your password">
      {sent ? (
        <p role="status" className="notice">
          {sent}
        </p>
      ) : (
        <form onSubmit={(e) => void submit(e)} className="stack">
          <Field label="Email" hint="We mail a link that works for one hour.">
            <input type="email" autoComplete="email" required value={email} onChange={(e) => { setEmail(e.target.value); }} />
          </Field>
          <ErrorBox error={action.error} />
          <button type="submit" disabled={action.busy}>
            Mail me a reset link
          </button>
        </form>
      )}
      <p>
        <Link href="/login">Back to log in</Link>
      </p>
    </AuthFrame>
  );
}

function SetPassword({ token }: { token: string }) {
  const action = useAction();
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [done, setDone] = useState(false);
  const mismatch = again !== "" && again !== password;
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (mismatch) return;
    const answer = await action.run(async () => {
      await api(`/v1/auth/password-reset/${encodeURIComponent(token)}`, { method: "POST", body: { password } });
      return true;
    });
    if (answer) setDone(true);
  };
  return (
    <AuthFrame title="Choose a new password">
      {done ? (
        <p role="status" className="notice">
          Your password is set, and every session of your account was signed out. <Link href="/login">Log in</Link>
        </p>
      ) : (
        <form onSubmit={(e) => void submit(e)} className="stack">
          <Field label="New password" hint="10 to 256 characters">
            <input type="password" autoComplete="new-password" required minLength={10} maxLength={256} value={password} onChange={(e) => { setPassword(e.target.value); }} />
          </Field>
          <Field label="New password again">
            <input type="password" autoComplete="new-password" required value={again} aria-invalid={mismatch} onChange={(e) => { setAgain(e.target.value); }} />
          </Field>
          {mismatch ? <p className="error">The two passwords differ.</p> : null}
          <ErrorBox error={action.error} />
          <button type="submit" disabled={action.busy || mismatch}>
            Set the password
          </button>
        </form>
      )}
    </AuthFrame>
  );
}

export function SsoLogin() {
  const action = useAction();
  const [slug, setSlug] = useState("");
  const [email, setEmail] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const wrong = slugError(slug.trim());
    setInvalid(wrong);
    if (wrong) return;
    const url = ssoStartUrl(slug.trim(), email, `/orgs/${slug.trim()}`);
    // Ask first without following the redirect, so an unknown org shows its problem here
    // instead of a JSON page; then let the browser go to the provider.
    const ok = await action.run(async () => {
      const probe = await fetch(url, { redirect: "manual", credentials: "same-origin", headers: { accept: "application/json" } });
      if (probe.type !== "opaqueredirect" && !probe.ok) {
        const body = (await probe.json().catch(() => ({}))) as { detail?: string };
        throw new ApiError(probe.status, body.detail ?? `${String(probe.status)} ${probe.statusText}`);
      }
      return true;
    });
    if (ok) window.location.assign(url);
  };
  return (
    <AuthFrame title="Log in with single sign-on">
      <form onSubmit={(e) => void submit(e)} className="stack" noValidate>
        <Field label="Organization slug" hint="As in the console's address: /orgs/<slug>">
          <input required autoComplete="organization" value={slug} aria-invalid={invalid !== null} onChange={(e) => { setSlug(e.target.value.toLowerCase()); }} />
        </Field>
        {invalid ? <p className="error">{invalid}</p> : null}
        <Field label="Email (optional)" hint="Passed to your identity provider as a hint">
          <input type="email" autoComplete="email" value={email} onChange={(e) => { setEmail(e.target.value); }} />
        </Field>
        <ErrorBox error={action.error} />
        <button type="submit" disabled={action.busy}>
          Continue to your identity provider
        </button>
      </form>
      <p>
        <Link href="/login">Log in with a password</Link>
      </p>
    </AuthFrame>
  );
}
