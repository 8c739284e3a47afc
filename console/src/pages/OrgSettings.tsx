// The org's name and slug (owners and admins change them) and creating another org.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import { Link } from "../components/Link";
import { DeleteOrg, OrgExport } from "../components/OrgDanger";
import { ErrorBox, Field } from "../components/ui";
import { useAction } from "../hooks";
import { slugError } from "../identity";
import { can } from "../roles";
import { navigate } from "../router";
import { useSession } from "../session";
import type { Org } from "../types";

export function OrgSettings({ org }: { org: Org }) {
  const { refresh } = useSession();
  const action = useAction();
  const [name, setName] = useState(org.name);
  const [slug, setSlug] = useState(org.slug);
  const [saved, setSaved] = useState(false);
  const writable = can(org.role, "org.update");
  const invalid = slug === org.slug ? null : slugError(slug);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (invalid) return;
    const body: Record<string, string> = {};
    if (name !== org.name) body.name = name;
    if (slug !== org.slug) body.slug = slug;
    setSaved(false);
    const updated = await action.run(() =>
      api<Org>(`/v1/orgs/${encodeURIComponent(org.id)}`, { method: "PATCH", body }),
    );
    if (updated) {
      setSaved(true);
      await refresh();
      // the address names the org by slug: follow a new one
      if (updated.slug !== org.slug) navigate(`/orgs/${updated.slug}/settings`, true);
    }
  };
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Organization settings</h1>
      <dl className="facts">
        <dt>Id</dt>
        <dd>
          <code>{org.id}</code>
        </dd>
        <dt>Your role</dt>
        <dd>{org.role}</dd>
      </dl>
      {writable ? (
        <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="rename-title">
          <h2 id="rename-title">Name and slug</h2>
          <Field label="Name">
            <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} />
          </Field>
          <Field label="Slug" hint="Used in addresses (/orgs/<slug>) and the SSO start URL; old links stop working.">
            <input required maxLength={64} value={slug} aria-invalid={invalid !== null} onChange={(e) => { setSlug(e.target.value.trim().toLowerCase()); }} />
          </Field>
          {invalid ? <p className="error">{invalid}</p> : null}
          <ErrorBox error={action.error} />
          {saved ? <p role="status">Saved.</p> : null}
          <div>
            <button type="submit" disabled={action.busy || invalid !== null || (name === org.name && slug === org.slug)}>
              Save
            </button>
          </div>
        </form>
      ) : (
        <p className="muted">
          {org.name} (<code>{org.slug}</code>). Only owners and admins change the name or slug.
        </p>
      )}
      <ul className="plain">
        {can(org.role, "sso.manage") ? (
          <li>
            <Link href={`/orgs/${org.slug}/sso`}>Single sign-on and domain proofs</Link>
          </li>
        ) : null}
        {can(org.role, "webhooks.manage") ? (
          <li>
            <Link href={`/orgs/${org.slug}/webhooks`}>Webhooks and their deliveries</Link>
          </li>
        ) : null}
        {can(org.role, "org_keys.manage") ? (
          <li>
            <Link href={`/orgs/${org.slug}/keys`}>Org admin keys</Link>
          </li>
        ) : null}
        <li>
          <Link href="/orgs/new">Create another organization</Link>
        </li>
      </ul>
      <OrgExport org={org} />
      <DeleteOrg key={org.id} org={org} />
    </section>
  );
}

export function CreateOrg() {
  const { refresh } = useSession();
  const action = useAction();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const invalid = slug ? slugError(slug) : null;
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (invalid) return;
    const made = await action.run(() =>
      api<Org>("/v1/orgs", { method: "POST", body: slug ? { name, slug } : { name } }),
    );
    if (made) {
      await refresh();
      navigate(`/orgs/${made.slug}`);
    }
  };
  return (
    <section aria-labelledby="new-org-title">
      <h1 id="new-org-title">Create an organization</h1>
      <p className="muted">You become its owner; it starts on the free plan with no projects.</p>
      <form onSubmit={(e) => void submit(e)} className="panel stack">
        <Field label="Organization name">
          <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} />
        </Field>
        <Field label="Slug (optional)" hint="Made from the name when empty">
          <input maxLength={64} value={slug} aria-invalid={invalid !== null} onChange={(e) => { setSlug(e.target.value.trim().toLowerCase()); }} />
        </Field>
        {invalid ? <p className="error">{invalid}</p> : null}
        <ErrorBox error={action.error} />
        <div>
          <button type="submit" disabled={action.busy || invalid !== null}>
            Create organization
          </button>
        </div>
      </form>
    </section>
  );
}
