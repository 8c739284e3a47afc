// The org's webhook endpoints (owners and admins): create (the signing secret shown once),
// delete, and each endpoint's delivery log, newest first.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { CopyButton, ErrorBox, Field, Loading } from "../components/ui";
import { utc } from "../format";
import { useAction, useApi } from "../hooks";
import { can } from "../roles";
import type { Org } from "../types";

export const EVENT_TYPES = [
  "subscription.changed",
  "quota.warning",
  "quota.exceeded",
  "invoice.finalized",
  "payment.failed",
  "key.revoked",
  "org.created",
] as const;

interface Webhook {
  id: string;
  url: string;
  event_types: string[];
  disabled: boolean;
  created_at: string | null;
  secret?: string;
}

interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string | null;
}

/** A delivery's state in words: delivered, retrying (when), or given up. */
export function deliveryState(d: Delivery): string {
  if (d.delivered_at) return `delivered ${utc(d.delivered_at)}`;
  if (d.next_attempt_at) return `retrying ${utc(d.next_attempt_at)}`;
  return d.attempts > 0 ? "failed, no retry left" : "queued";
}

export function Webhooks({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}/webhooks`;
  const allowed = can(org.role, "webhooks.manage");
  const list = useApi<Page<Webhook>>(allowed ? `${base}?limit=100` : null);
  const [created, setCreated] = useState<Webhook | null>(null);
  if (!allowed) {
    return (
      <section aria-labelledby="webhooks-title">
        <h1 id="webhooks-title">Webhooks</h1>
        <p className="muted">Only owners and admins manage webhooks.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      <p className="muted">
        Signed <code>POST</code>s (Standard Webhooks) of org events to your HTTPS endpoints, retried for about 3 hours.
      </p>
      {created?.secret ? (
        <div className="panel secret" role="status">
          <p>
            Signing secret of <code>{created.url}</code>, shown <strong>once</strong>:
          </p>
          <p className="secret-line">
            <code data-testid="webhook-secret">{created.secret}</code> <CopyButton text={created.secret} name="Copy the signing secret" />
          </p>
          <button type="button" className="secondary" onClick={() => { setCreated(null); }}>
            I have stored it
          </button>
        </div>
      ) : null}
      {list.loading && !list.data ? <Loading what="Loading webhooks" /> : null}
      <ErrorBox error={list.error} />
      {list.data?.items.length === 0 ? <p>No endpoint yet.</p> : null}
      {list.data?.items.map((w) => (
        <WebhookRow key={w.id} base={base} hook={w} onDeleted={list.reload} />
      ))}
      <CreateWebhook
        base={base}
        onCreated={(w) => {
          setCreated(w);
          list.reload();
        }}
      />
    </section>
  );
}

function WebhookRow({ base, hook, onDeleted }: { base: string; hook: Webhook; onDeleted: () => void }) {
  const [open, setOpen] = useState(false);
  const action = useAction();
  const remove = async () => {
    if (!window.confirm(`Delete the endpoint ${hook.url}? Nothing more is sent to it.`)) return;
    const done = await action.run(async () => {
      await api(`${base}/${encodeURIComponent(hook.id)}`, { method: "DELETE" });
      return true;
    });
    if (done) onDeleted();
  };
  return (
    <details className="panel" open={open} onToggle={(e) => { setOpen(e.currentTarget.open); }}>
      <summary>
        <code>{hook.url}</code> — {hook.event_types.join(", ")}
        {hook.disabled ? " (disabled)" : ""}
      </summary>
      <p className="row">
        <span className="muted">Created {utc(hook.created_at)}</span>
        <button type="button" className="danger" disabled={action.busy} onClick={() => void remove()}>
          Delete endpoint
        </button>
      </p>
      <ErrorBox error={action.error} />
      {open ? <Deliveries path={`${base}/${encodeURIComponent(hook.id)}/deliveries?limit=50`} /> : null}
    </details>
  );
}

function Deliveries({ path }: { path: string }) {
  const deliveries = useApi<Page<Delivery>>(path);
  if (deliveries.loading && !deliveries.data) return <Loading what="Loading deliveries" />;
  if (deliveries.error) return <ErrorBox error={deliveries.error} />;
  const items = deliveries.data?.items ?? [];
  if (items.length === 0) return <p className="muted">No delivery yet.</p>;
  return (
    <div className="scroll">
      <table>
        <caption>
          Deliveries, newest first{" "}
          <button type="button" className="link" onClick={deliveries.reload}>
            Refresh
          </button>
        </caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Created</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last answer</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id} className={d.delivered_at ? "" : "has-error"}>
              <td>
                {d.event_type} <code className="muted">{d.event_id}</code>
              </td>
              <td>{utc(d.created_at)}</td>
              <td>{d.attempts}</td>
              <td>{d.last_status ?? d.last_error ?? "—"}</td>
              <td>{deliveryState(d)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CreateWebhook({ base, onCreated }: { base: string; onCreated: (w: Webhook) => void }) {
  const action = useAction();
  const [url, setUrl] = useState("");
  const [all, setAll] = useState(true);
  const [types, setTypes] = useState<string[]>([]);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const made = await action.run(() =>
      api<Webhook>(base, { method: "POST", body: { url: url.trim(), event_types: all ? ["*"] : types } }),
    );
    if (made) {
      setUrl("");
      onCreated(made);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="new-hook-title">
      <h2 id="new-hook-title">Add an endpoint</h2>
      <Field label="Endpoint URL">
        <input type="url" required placeholder="https://hooks.example.com/tollgate" value={url} onChange={(e) => { setUrl(e.target.value); }} />
      </Field>
      <fieldset>
        <legend>Events</legend>
        <label className="check">
          <input type="checkbox" checked={all} onChange={(e) => { setAll(e.target.checked); }} />
          All events (<code>*</code>)
        </label>
        {all ? null : (
          <div className="checks">
            {EVENT_TYPES.map((t) => (
              <label key={t} className="check">
                <input
                  type="checkbox"
                  checked={types.includes(t)}
                  onChange={(e) => {
                    setTypes(e.target.checked ? [...types, t] : types.filter((x) => x !== t));
                  }}
                />
                {t}
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <ErrorBox error={action.error} />
      <div>
        <button type="submit" disabled={action.busy || (!all && types.length === 0)}>
          Add endpoint
        </button>
      </div>
    </form>
  );
}
