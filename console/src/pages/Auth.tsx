// Log in and sign up: forms posting to the public API; the session is the cookie login sets.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import type { ApiError } from "../api";
import { Link } from "../components/Link";
import { ErrorBox, Field } from "../components/ui";
import { useAction } from "../hooks";
import { navigate, queryParam, useLocation } from "../router";
import { login, signup, useSession } from "../session";

/** Only console paths (never another origin) are followed after login. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function AuthFrame({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main id="main" className="auth">
      <p className="brand">Tollgate</p>
      <h1>{title}</h1>
      {children}
    </main>
  );
}

export function Login({ error }: { error?: ApiError | undefined }) {
  const location = useLocation();
  const { refresh } = useSession();
  const action = useAction();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const done = await action.run(async () => {
      await login(email, password);
      return true;
    });
    if (done) {
      const me = await refresh();
      if (me) navigate(safeNext(queryParam(location, "next")), true);
    }
  };
  return (
    <AuthFrame title="Log in">
      <form onSubmit={(e) => void submit(e)} className="stack">
        <Field label="Email">
          <input type="email" autoComplete="email" required value={email} onChange={(e) => { setEmail(e.target.value); }} />
        </Field>
        <Field label="Password">
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => { setPassword(e.target.value); }} />
        </Field>
        <ErrorBox error={action.error ?? error} />
        <button type="submit" disabled={action.busy}>
          {action.busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        New to Tollgate? <Link href="/signup">Create an account</Link>
      </p>
      <p>
        <Link href="/reset-password">Forgot your password?</Link> · <Link href="/sso">Log in with single sign-on</Link>
      </p>
    </AuthFrame>
  );
}

export function Signup() {
  const { refresh } = useSession();
  const action = useAction();
  const [form, setForm] = useState({ email: "", password: "", name: "", org: "" });
  const set = (field: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => {
    setForm({ ...form, [field]: e.target.value });
  };
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const created = await action.run(() => signup(form.email, form.password, form.name, form.org));
    if (created) {
      await refresh();
      navigate(`/orgs/${created.org.slug}/projects/${created.project.id}`, true);
    }
  };
  return (
    <AuthFrame title="Create your account">
      <form onSubmit={(e) => void submit(e)} className="stack">
        <Field label="Your name">
          <input autoComplete="name" required value={form.name} onChange={set("name")} />
        </Field>
        <Field label="Email">
          <input type="email" autoComplete="email" required value={form.email} onChange={set("email")} />
        </Field>
        <Field label="Password" hint="At least 10 characters">
          <input type="password" autoComplete="new-password" required minLength={10} value={form.password} onChange={set("password")} />
        </Field>
        <Field label="Organization name">
          <input autoComplete="organization" required value={form.org} onChange={set("org")} />
        </Field>
        <ErrorBox error={action.error} />
        <button type="submit" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </AuthFrame>
  );
}
