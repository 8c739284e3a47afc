// The org's projects: list, create, rename, delete (for roles that may write projects).
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { Link } from "../components/Link";
import { ErrorBox, Field, Loading } from "../components/ui";
import { useAction, useApi } from "../hooks";
import { utc } from "../format";
import { can } from "../roles";
import type { Org, Project } from "../types";

export function Projects({ org }: { org: Org }) {
  const list = useApi<Page<Project>>(`/v1/orgs/${encodeURIComponent(org.slug)}/projects?limit=200`);
  const create = useAction();
  const [name, setName] = useState("");
  const writable = can(org.role, "projects.write");

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const made = await create.run(() =>
      api<Project>(`/v1/orgs/${encodeURIComponent(org.slug)}/projects`, { method: "POST", body: { name } }),
    );
    if (made) {
      setName("");
      list.reload();
    }
  };

  return (
    <section aria-labelledby="projects-title">
      <h1 id="projects-title">Projects of {org.name}</h1>
      <p className="muted">
        You are <strong>{org.role}</strong> in this organization.
      </p>
      {list.loading && !list.data ? <Loading what="Loading projects" /> : null}
      <ErrorBox error={list.error} />
      {list.data ? (
        list.data.items.length === 0 ? (
          <p>No projects yet.</p>
        ) : (
          <ul className="cards">
            {list.data.items.map((p) => (
              <ProjectRow key={p.id} org={org} project={p} writable={writable} onChange={list.reload} />
            ))}
          </ul>
        )
      ) : null}
      {writable ? (
        <form onSubmit={(e) => void submit(e)} className="inline" aria-label="Create a project">
          <Field label="New project name">
            <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} />
          </Field>
          <button type="submit" disabled={create.busy}>
            Create project
          </button>
          <ErrorBox error={create.error} />
        </form>
      ) : null}
    </section>
  );
}

function ProjectRow({
  org,
  project,
  writable,
  onChange,
}: {
  org: Org;
  project: Project;
  writable: boolean;
  onChange: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(project.name);
  const action = useAction();
  const path = `/v1/projects/${encodeURIComponent(project.id)}`;

  const rename = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (await action.run(() => api<Project>(path, { method: "PATCH", body: { name } }))) {
      setEditing(false);
      onChange();
    }
  };
  const remove = async () => {
    if (!window.confirm(`Delete project “${project.name}”, its keys and all its data?`)) return;
    await action.run(() => api(path, { method: "DELETE" }).then(() => true));
    onChange();
  };

  return (
    <li className="card">
      {editing ? (
        <form onSubmit={(e) => void rename(e)} className="inline">
          <Field label={`Rename ${project.name}`}>
            <input required maxLength={200} value={name} onChange={(e) => { setName(e.target.value); }} />
          </Field>
          <button type="submit" disabled={action.busy}>
            Save
          </button>
          <button type="button" className="secondary" onClick={() => { setEditing(false); }}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <h2>
            <Link href={`/orgs/${org.slug}/projects/${project.id}`}>{project.name}</Link>
          </h2>
          <p className="muted">
            <code>{project.id}</code> · created {utc(project.created_at)}
          </p>
          <p className="row">
            <Link href={`/orgs/${org.slug}/projects/${project.id}/logs`}>Logs</Link>
            <Link href={`/orgs/${org.slug}/projects/${project.id}/traces`}>Traces</Link>
            <Link href={`/orgs/${org.slug}/projects/${project.id}/metrics`}>Metrics</Link>
            {writable ? (
              <>
                <button type="button" className="secondary" onClick={() => { setEditing(true); }}>
                  Rename
                </button>
                <button type="button" className="danger" onClick={() => void remove()}>
                  Delete
                </button>
              </>
            ) : null}
          </p>
        </>
      )}
      <ErrorBox error={action.error} />
    </li>
  );
}
