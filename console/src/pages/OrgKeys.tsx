// Org admin keys (`tgo_…`): list, create with scopes (the secret shown once), rotate, revoke.
// Owners and admins only, as the permission table says (org_keys.manage).
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { Link } from "../components/Link";
import { CopyButton, ErrorBox, Field, Loading } from "../components/ui";
import { useAction, useApi } from "../hooks";
import { utc } from "../format";
import { can, ORG_SCOPES } from "../roles";
import type { Key, Org } from "../types";
import { EXPIRIES, expiresAt, KeyRow } from "./Project";

export function OrgKeys({ org }: { org: Org }) {
  if (!can(org.role, "org_keys.manage")) {
    return (
      <section aria-labelledby="org-keys-title">
        <h1 id="org-keys-title">Org admin keys</h1>
        <p className="notice">
          Your role (<strong>{org.role}</strong>) cannot see or create org keys. Ask an owner or admin.
        </p>
      </section>
    );
  }
  return <Manage org={org} />;
}

function Manage({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.id)}/keys`;
  const list = useApi<Page<Key>>(`${base}?limit=200`);
  const [shown, setShown] = useState<Key | null>(null);
  const created = (key: Key) => {
    setShown(key);
    list.reload();
  };
  return (
    <section aria-labelledby="org-keys-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}/settings`}>Settings</Link> /
      </p>
      <h1 id="org-keys-title">Org admin keys</h1>
      <p className="muted">
        Org keys act on the whole org through the API (<code>/v1/orgs/{org.slug}/…</code>) with the scopes they carry.
      </p>
      {shown?.key ? <OrgSecret org={org} keyOut={shown} onDone={() => { setShown(null); }} /> : null}
      <CreateOrgKey base={base} onCreated={created} />
      {list.loading && !list.data ? <Loading what="Loading keys" /> : null}
      <ErrorBox error={list.error} />
      {list.data ? (
        <div className="scroll">
          <table>
            <caption className="sr-only">Org keys of {org.name}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((k) => (
                <KeyRow key={k.id} base={base} keyOut={k} writable onRotated={created} onChange={list.reload} />
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 ? <p>No org keys yet.</p> : null}
        </div>
      ) : null}
    </section>
  );
}

function CreateOrgKey({ base, onCreated }: { base: string; onCreated: (key: Key) => void }) {
  const action = useAction();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["org:admin"]);
  const [expiry, setExpiry] = useState("0");
  const toggle = (scope: string) => {
    setScopes(scopes.includes(scope) ? scopes.filter((s) => s !== scope) : [...scopes, scope]);
  };
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const days = EXPIRIES[Number(expiry)]?.days ?? null;
    const key = await action.run(() =>
      api<Key>(base, { method: "POST", body: { name, scopes, expires_at: expiresAt(days, new Date()) } }),
    );
    if (key) {
      setName("");
      onCreated(key);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="create-org-key-title">
      <h2 id="create-org-key-title">Create an org key</h2>
      <Field label="Key name">
        <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} placeholder="terraform" />
      </Field>
      <fieldset>
        <legend>Scopes</legend>
        <div className="checks">
          {ORG_SCOPES.map((scope) => (
            <label key={scope} className="check">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => { toggle(scope); }} />
              {scope}
            </label>
          ))}
        </div>
      </fieldset>
      <Field label="Expires">
        <select value={expiry} onChange={(e) => { setExpiry(e.target.value); }}>
          {EXPIRIES.map((option, i) => (
            <option key={option.label} value={String(i)}>
              {option.label}
            </option>
          ))}
        </select>
      </Field>
      <ErrorBox error={action.error} />
      <div>
        <button type="submit" disabled={action.busy || scopes.length === 0}>
          {action.busy ? "Creating…" : "Create org key"}
        </button>
      </div>
    </form>
  );
}

function OrgSecret({ org, keyOut, onDone }: { org: Org; keyOut: Key; onDone: () => void }) {
  const secret = keyOut.key ?? "";
  return (
    <section className="panel secret" aria-labelledby="org-secret-title">
      <h2 id="org-secret-title">Key “{keyOut.name}” — copy it now</h2>
      <p>This secret is shown once; Tollgate keeps only its hash. Scopes: {keyOut.scopes.join(" ")}.</p>
      <p className="secret-line">
        <code data-testid="org-key-secret">{secret}</code> <CopyButton text={secret} label="Copy key" />
      </p>
      {keyOut.previous_valid_until ? (
        <p className="notice">The previous secret keeps working until {utc(keyOut.previous_valid_until)}.</p>
      ) : null}
      <pre tabIndex={0}>{`curl -H "Authorization: Bearer ${secret}" ${window.location.origin}/v1/orgs/${org.slug}/projects`}</pre>
      <button type="button" className="secondary" onClick={onDone}>
        I have stored it
      </button>
    </section>
  );
}
