// The org's OpenID Connect connection and the proofs of its email domains (owners and admins):
// each claimed domain shows the TXT record to publish, a Verify button and its status.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { CopyButton, ErrorBox, Field, Loading } from "../components/ui";
import { utc } from "../format";
import { useAction, useApi } from "../hooks";
import { can, grantableRoles } from "../roles";
import type { Org } from "../types";

export interface DomainProof {
  domain: string;
  status: "pending" | "verified";
  record_type: string;
  record_name: string;
  record_value: string;
  verified_at: string | null;
  checked_at: string | null;
}

interface SsoConfig {
  issuer: string;
  discovery_url: string;
  client_id: string;
  domains: string[];
  enforce: boolean;
  default_role: string;
  start_url: string;
  redirect_uri: string;
  updated_at: string;
}

/** Domains typed one per line or separated by commas/spaces, lowercased, without duplicates. */
export function parseDomains(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((d) => d.trim().toLowerCase().replace(/\.$/, "")).filter(Boolean))];
}

export function SsoSettings({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}/sso`;
  const allowed = can(org.role, "sso.manage");
  const config = useApi<SsoConfig>(allowed ? base : null);
  const domains = useApi<Page<DomainProof>>(allowed ? `${base}/domains` : null);
  if (!allowed) {
    return (
      <section aria-labelledby="sso-title">
        <h1 id="sso-title">Single sign-on</h1>
        <p className="muted">Only owners and admins configure single sign-on.</p>
      </section>
    );
  }
  const missing = config.error?.status === 404;
  const changed = () => {
    config.reload();
    domains.reload();
  };
  return (
    <section aria-labelledby="sso-title">
      <h1 id="sso-title">Single sign-on</h1>
      {config.loading && !config.data ? <Loading what="Loading the connection" /> : null}
      {missing ? <p>Single sign-on is not configured yet.</p> : <ErrorBox error={config.error} />}
      {config.data ? (
        <dl className="facts">
          <dt>Provider</dt>
          <dd>
            <code>{config.data.issuer}</code>
          </dd>
          <dt>Redirect URI to register</dt>
          <dd>
            <code>{config.data.redirect_uri}</code>
          </dd>
          <dt>Login start URL</dt>
          <dd>
            <code>{config.data.start_url}</code>
          </dd>
          <dt>Enforced</dt>
          <dd>{config.data.enforce ? "yes, for verified domains" : "no"}</dd>
        </dl>
      ) : null}
      {domains.data && domains.data.items.length > 0 ? (
        <Domains base={base} items={domains.data.items} onChange={domains.reload} />
      ) : null}
      {config.data || missing ? (
        <ConnectionForm org={org} base={base} current={config.data} onSaved={changed} />
      ) : null}
    </section>
  );
}

function Domains({ base, items, onChange }: { base: string; items: DomainProof[]; onChange: () => void }) {
  return (
    <>
      <h2>Domain proofs</h2>
      <p className="muted">
        A domain does nothing until proven: publish its TXT record in the domain's DNS, then press Verify.
      </p>
      <ul className="plain stack" aria-label="Domains">
        {items.map((d) => (
          <DomainRow key={d.domain} base={base} proof={d} onChange={onChange} />
        ))}
      </ul>
    </>
  );
}

function DomainRow({ base, proof, onChange }: { base: string; proof: DomainProof; onChange: () => void }) {
  const action = useAction();
  const verify = async () => {
    const done = await action.run(() =>
      api<DomainProof>(`${base}/domains/${encodeURIComponent(proof.domain)}/verify`, { method: "POST" }),
    );
    if (done) onChange();
  };
  return (
    <li className="panel" data-testid={`domain-${proof.domain}`}>
      <h3>
        {proof.domain}: <span className={proof.status === "verified" ? "ok" : "pending"}>{proof.status}</span>
      </h3>
      {proof.status === "verified" ? (
        <p>Verified {utc(proof.verified_at)}.</p>
      ) : (
        <>
          <div className="scroll">
            <table>
              <caption>Publish this record</caption>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Name</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                <tr>
                  <td>{proof.record_type}</td>
                  <td>
                    <code data-testid="record-name">{proof.record_name}</code>
                  </td>
                  <td>
                    <code data-testid="record-value">{proof.record_value}</code>
                  </td>
                </tr>
              </tbody>
            </table>
          </div>
          <div className="row">
            <CopyButton text={proof.record_value} label="Copy value" name={`Copy the TXT value for ${proof.domain}`} />
            <button type="button" disabled={action.busy} onClick={() => void verify()}>
              {action.busy ? "Checking…" : `Verify ${proof.domain}`}
            </button>
            <span className="muted">Last checked {utc(proof.checked_at)}</span>
          </div>
          <ErrorBox error={action.error} />
        </>
      )}
    </li>
  );
}

function ConnectionForm({
  org,
  base,
  current,
  onSaved,
}: {
  org: Org;
  base: string;
  current: SsoConfig | undefined;
  onSaved: () => void;
}) {
  const action = useAction();
  const [form, setForm] = useState({
    issuer: current?.issuer ?? "",
    client_id: current?.client_id ?? "",
    client_secret: "",
    domains: (current?.domains ?? []).join("\n"),
    enforce: current?.enforce ?? false,
    default_role: current?.default_role ?? "member",
  });
  const roles = grantableRoles(org.role).filter((r) => r !== "owner");
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const body = {
      issuer: form.issuer.trim(),
      client_id: form.client_id.trim(),
      domains: parseDomains(form.domains),
      enforce: form.enforce,
      default_role: form.default_role,
      ...(form.client_secret ? { client_secret: form.client_secret } : {}),
    };
    const saved = await action.run(() => api<SsoConfig>(base, { method: "PUT", body }));
    if (saved) {
      setForm({ ...form, client_secret: "" });
      onSaved();
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="connection-title">
      <h2 id="connection-title">{current ? "Change the connection" : "Configure the connection"}</h2>
      <Field label="Issuer URL" hint="Its /.well-known/openid-configuration is checked when you save">
        <input type="url" required value={form.issuer} onChange={(e) => { setForm({ ...form, issuer: e.target.value }); }} />
      </Field>
      <Field label="Client id">
        <input required value={form.client_id} onChange={(e) => { setForm({ ...form, client_id: e.target.value }); }} />
      </Field>
      <Field label="Client secret" hint={current ? "Leave empty to keep the stored secret (it is never shown)" : "Stored encrypted, never shown again"}>
        <input type="password" autoComplete="off" required={!current} value={form.client_secret} onChange={(e) => { setForm({ ...form, client_secret: e.target.value }); }} />
      </Field>
      <Field label="Email domains" hint="One per line; each needs a DNS proof before it counts">
        <textarea required rows={3} value={form.domains} onChange={(e) => { setForm({ ...form, domains: e.target.value }); }} />
      </Field>
      <Field label="Role of new members">
        <select value={form.default_role} onChange={(e) => { setForm({ ...form, default_role: e.target.value }); }}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <label className="check">
        <input type="checkbox" checked={form.enforce} onChange={(e) => { setForm({ ...form, enforce: e.target.checked }); }} />
        Enforce SSO for verified domains (password login refused for their addresses)
      </label>
      <ErrorBox error={action.error} />
      <div>
        <button type="submit" disabled={action.busy}>
          Save the connection
        </button>
      </div>
    </form>
  );
}
