// The org's audit log (owners and admins), newest first, paged by the API's cursor. The kind
// filter narrows the events loaded so far (the API has no server-side filter yet).
import { useEffect, useState } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { ErrorBox, Field, Loading } from "../components/ui";
import { utc } from "../format";
import { useAction } from "../hooks";
import type { Org } from "../types";

export interface AuditEvent {
  id: string;
  action: string;
  actor: { type: string | null; id: string | null };
  target: { type: string | null; id: string | null };
  ip: string | null;
  at: string;
  data: Record<string, unknown>;
}

export const KINDS = ["key", "project", "member", "invite", "org", "sso", "webhook", "subscription"] as const;

export function matchesKind(event: AuditEvent, kind: string): boolean {
  return kind === "" || event.action.startsWith(`${kind}.`);
}

export function Audit({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}/audit-log?limit=50`;
  const action = useAction();
  const { run } = action;
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [kind, setKind] = useState("");

  useEffect(() => {
    void run(() => api<Page<AuditEvent>>(base)).then((page) => {
      if (!page) return;
      setEvents(page.items);
      setCursor(page.next_cursor ?? null);
    });
  }, [base, run]);

  const more = async () => {
    if (!cursor) return;
    const page = await run(() => api<Page<AuditEvent>>(`${base}&cursor=${encodeURIComponent(cursor)}`));
    if (!page) return;
    setEvents((previous) => [...(previous ?? []), ...page.items]);
    setCursor(page.next_cursor ?? null);
  };
  const shown = (events ?? []).filter((e) => matchesKind(e, kind));

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log of {org.name}</h1>
      <div className="inline">
        <Field label="Show">
          <select value={kind} onChange={(e) => { setKind(e.target.value); }}>
            <option value="">Every event</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k} events
              </option>
            ))}
          </select>
        </Field>
      </div>
      {action.busy && !events ? <Loading what="Loading the audit log" /> : null}
      <ErrorBox error={action.error} />
      {events ? (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">IP</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id}>
                  <td>{utc(e.at)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>
                    {e.actor.type} <code>{e.actor.id}</code>
                  </td>
                  <td>
                    {e.target.type} <code>{e.target.id}</code>
                  </td>
                  <td>{e.ip ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length === 0 ? <p>No {kind ? `${kind} ` : ""}events loaded.</p> : null}
        </div>
      ) : null}
      {cursor ? (
        <button type="button" className="secondary" disabled={action.busy} onClick={() => void more()}>
          Load older events
        </button>
      ) : null}
    </section>
  );
}
