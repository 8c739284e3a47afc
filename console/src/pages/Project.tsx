// One project: its keys (create with scopes and expiry, the secret once with snippets, rotate,
// revoke, last used). Roles without keys.read see neither the list nor a create button.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { Link } from "../components/Link";
import { ProjectGate } from "../components/ProjectGate";
import { CopyButton, ErrorBox, Field, Loading } from "../components/ui";
import { useAction, useApi } from "../hooks";
import { utc } from "../format";
import { holdKey } from "../keystore";
import { can, PROJECT_SCOPES } from "../roles";
import { snippetsFor } from "../snippets";
import type { Key, Org, Project } from "../types";

export const EXPIRIES: { label: string; days: number | null }[] = [
  { label: "Never", days: null },
  { label: "In 7 days", days: 7 },
  { label: "In 30 days", days: 30 },
  { label: "In 90 days", days: 90 },
  { label: "In 1 year", days: 365 },
];

export function expiresAt(days: number | null, now: Date): string | null {
  return days === null ? null : new Date(now.getTime() + days * 86_400_000).toISOString();
}

export function ProjectPage({ org, projectId }: { org: Org; projectId: string }) {
  return (
    <ProjectGate org={org} projectId={projectId}>
      {(p) => (
        <section aria-labelledby="project-title">
          <p className="crumbs">
            <Link href={`/orgs/${org.slug}`}>Projects</Link> /
          </p>
          <h1 id="project-title">{p.name}</h1>
          <p className="muted">
            <code>{p.id}</code>
          </p>
          <p className="row">
            <Link href={`/orgs/${org.slug}/projects/${p.id}/logs`}>Search logs</Link>
            <Link href={`/orgs/${org.slug}/projects/${p.id}/traces`}>Traces</Link>
            <Link href={`/orgs/${org.slug}/projects/${p.id}/services`}>Services</Link>
            <Link href={`/orgs/${org.slug}/projects/${p.id}/metrics`}>Metrics</Link>
          </p>
          {can(org.role, "keys.read") ? (
            <Keys org={org} project={p} />
          ) : (
            <p className="notice">
              Your role (<strong>{org.role}</strong>) cannot see or create this project's keys. Ask an
              owner, admin or member for a key.
            </p>
          )}
        </section>
      )}
    </ProjectGate>
  );
}

function Keys({ org, project }: { org: Org; project: Project }) {
  const base = `/v1/projects/${encodeURIComponent(project.id)}/keys`;
  const list = useApi<Page<Key>>(`${base}?limit=200`);
  const [shown, setShown] = useState<Key | null>(null);
  const writable = can(org.role, "keys.write");

  const created = (key: Key) => {
    setShown(key);
    if (key.key && key.scopes.some((s) => s.endsWith(":read"))) {
      holdKey(project.id, { secret: key.key, scopes: key.scopes, name: key.name });
    }
    list.reload();
  };

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {shown?.key ? <Secret project={project} keyOut={shown} onDone={() => { setShown(null); }} /> : null}
      {writable ? <CreateKey base={base} onCreated={created} /> : null}
      {list.loading && !list.data ? <Loading what="Loading keys" /> : null}
      <ErrorBox error={list.error} />
      {list.data ? (
        <div className="scroll">
          <table>
            <caption className="sr-only">Keys of {project.name}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                {writable ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((k) => (
                <KeyRow key={k.id} base={base} keyOut={k} writable={writable} onRotated={created} onChange={list.reload} />
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 ? <p>No keys yet.</p> : null}
        </div>
      ) : null}
    </section>
  );
}

function CreateKey({ base, onCreated }: { base: string; onCreated: (key: Key) => void }) {
  const action = useAction();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>([...PROJECT_SCOPES]);
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
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="create-key-title">
      <h3 id="create-key-title">Create a key</h3>
      <Field label="Key name">
        <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} placeholder="prod collector" />
      </Field>
      <fieldset>
        <legend>Scopes</legend>
        <div className="checks">
          {PROJECT_SCOPES.map((scope) => (
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
        <button type="submit" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create key"}
        </button>
      </div>
    </form>
  );
}

function Secret({ project, keyOut, onDone }: { project: Project; keyOut: Key; onDone: () => void }) {
  const secret = keyOut.key ?? "";
  const origin = window.location.origin;
  return (
    <section className="panel secret" aria-labelledby="secret-title">
      <h3 id="secret-title">Key “{keyOut.name}” — copy it now</h3>
      <p>This secret is shown once; Tollgate keeps only its hash.</p>
      <p className="secret-line">
        <code data-testid="key-secret">{secret}</code> <CopyButton text={secret} label="Copy key" />
      </p>
      {keyOut.previous_valid_until ? (
        <p className="notice">The previous secret keeps working until {utc(keyOut.previous_valid_until)}.</p>
      ) : null}
      {snippetsFor(origin, project.id, secret, keyOut.scopes).map((s) => (
        <div key={s.id} className="snippet">
          <div className="row">
            <h4>{s.title}</h4>
            <CopyButton text={s.text} name={`Copy the ${s.title} snippet`} />
          </div>
          <pre data-testid={`snippet-${s.id}`} tabIndex={0}>{s.text}</pre>
        </div>
      ))}
      <button type="button" className="secondary" onClick={onDone}>
        I have stored it
      </button>
    </section>
  );
}

export function KeyRow({
  base,
  keyOut,
  writable,
  onRotated,
  onChange,
}: {
  base: string;
  keyOut: Key;
  writable: boolean;
  onRotated: (key: Key) => void;
  onChange: () => void;
}) {
  const action = useAction();
  const path = `${base}/${encodeURIComponent(keyOut.id)}`;
  const revoked = keyOut.revoked_at !== null;
  const expired = keyOut.expires_at !== null && new Date(keyOut.expires_at) <= new Date();
  const revoke = async () => {
    if (!window.confirm(`Revoke “${keyOut.name}”? Clients using it are refused within seconds.`)) return;
    await action.run(() => api(path, { method: "DELETE" }).then(() => true));
    onChange();
  };
  const rotate = async () => {
    const key = await action.run(() => api<Key>(`${path}/rotate`, { method: "POST", body: {} }));
    if (key) onRotated(key);
  };
  return (
    <tr>
      <td>{keyOut.name}</td>
      <td>
        <code>{keyOut.prefix}…</code>
      </td>
      <td className="scopes">{keyOut.scopes.join(" ")}</td>
      <td>{keyOut.expires_at ? utc(keyOut.expires_at) : "never"}</td>
      <td>{keyOut.last_used_at ? utc(keyOut.last_used_at) : "never"}</td>
      <td>
        {revoked ? "revoked" : expired ? "expired" : "active"}
        {keyOut.previous_valid_until ? <small className="muted"> (old secret until {utc(keyOut.previous_valid_until)})</small> : null}
        <ErrorBox error={action.error} />
      </td>
      {writable ? (
        <td>
          {revoked ? null : (
            <div className="row">
              <button type="button" className="secondary" disabled={action.busy} onClick={() => void rotate()}>
                Rotate<span className="sr-only"> {keyOut.name}</span>
              </button>
              <button type="button" className="danger" disabled={action.busy} onClick={() => void revoke()}>
                Revoke<span className="sr-only"> {keyOut.name}</span>
              </button>
            </div>
          )}
        </td>
      ) : null}
    </tr>
  );
}
