// Joining an org from an invite link: with the current session, or by creating the account.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import { ErrorBox, Field } from "../components/ui";
import { useAction } from "../hooks";
import { navigate } from "../router";
import { useSession } from "../session";

interface Accepted {
  org_id: string;
  user: { email: string };
  token?: string;
}

export function InviteAccept({ token }: { token: string }) {
  const { me, refresh } = useSession();
  const action = useAction();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const path = `/v1/invites/${encodeURIComponent(token)}/accept`;
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const accepted = await action.run(async () => {
      const answer = await api<Accepted>(path, { method: "POST", body: me ? {} : { name, password } });
      if (answer.token) {
        // A new account: trade the bearer session for the console's cookie session.
        await api("/v1/auth/login", { method: "POST", body: { email: answer.user.email, password, cookie: true } });
        await api("/v1/auth/logout", { method: "POST", key: answer.token }).catch(() => undefined);
      }
      return answer;
    });
    if (accepted) {
      await refresh();
      navigate(`/orgs/${accepted.org_id}`, true);
    }
  };
  return (
    <main id="main" className="auth">
      <p className="brand">Tollgate</p>
      <h1>Join an organization</h1>
      <form onSubmit={(e) => void submit(e)} className="stack">
        {me ? (
          <p>You will join as {me.user.email}.</p>
        ) : (
          <>
            <p>Choose your name and password to create your account.</p>
            <Field label="Your name">
              <input required value={name} onChange={(e) => { setName(e.target.value); }} />
            </Field>
            <Field label="Password" hint="At least 10 characters">
              <input type="password" autoComplete="new-password" required minLength={10} value={password} onChange={(e) => { setPassword(e.target.value); }} />
            </Field>
          </>
        )}
        <ErrorBox error={action.error} />
        <button type="submit" disabled={action.busy}>
          Accept the invite
        </button>
      </form>
    </main>
  );
}
