// The org's export (a download of its NDJSON stream; owner, admin) and deletion (owner only,
// confirmed by typing the slug).
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import { useAction } from "../hooks";
import { can } from "../roles";
import { navigate } from "../router";
import { useSession } from "../session";
import type { Org } from "../types";
import { ErrorBox, Field } from "./ui";

export function OrgExport({ org }: { org: Org }) {
  if (!can(org.role, "org.export")) return null;
  return (
    <section className="panel stack" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p className="muted">
        Every row of the org (projects, members, keys without secrets, billing, audit) and its logs, spans and metric series,
        as one NDJSON file; a whole export ends with a <code>{'{"type":"end",…}'}</code> line.
      </p>
      <p>
        {/* a plain link: the browser streams the download with the session cookie */}
        <a href={`/v1/orgs/${encodeURIComponent(org.id)}/export`} download={`${org.slug}-export.ndjson`}>
          Download the export
        </a>
      </p>
    </section>
  );
}

export function DeleteOrg({ org }: { org: Org }) {
  const { refresh } = useSession();
  const action = useAction();
  const [typed, setTyped] = useState("");
  if (!can(org.role, "org.delete")) return null;
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (typed !== org.slug) return;
    const done = await action.run(() =>
      api(`/v1/orgs/${encodeURIComponent(org.id)}`, { method: "DELETE" }).then(() => true),
    );
    if (done) {
      await refresh();
      navigate("/", true);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack danger-zone" aria-labelledby="delete-org-title">
      <h2 id="delete-org-title">Delete this organization</h2>
      <p>
        Its projects, keys, members, invites and stored telemetry go with it; keys stop working at once. This cannot be
        undone — download the export first if you may need the data.
      </p>
      <Field label={`Type the slug “${org.slug}” to confirm`}>
        <input value={typed} autoComplete="off" spellCheck={false} onChange={(e) => { setTyped(e.target.value.trim()); }} />
      </Field>
      <ErrorBox error={action.error} />
      <div>
        <button type="submit" className="danger" disabled={action.busy || typed !== org.slug}>
          Delete {org.name}
        </button>
      </div>
    </form>
  );
}
