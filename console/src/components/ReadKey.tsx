// Data-plane reads need a project key with a read scope. Offer the key created in this tab, a
// pasted one, or a fresh read-only key valid for an hour — kept in memory only (keystore.ts).
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import { useAction } from "../hooks";
import { forgetKey, holdKey } from "../keystore";
import type { HeldKey } from "../keystore";
import { can } from "../roles";
import type { Key, Org } from "../types";
import { ErrorBox, Field } from "./ui";

export const READ_KEY_HOURS = 1;

export function ReadKey({
  org,
  projectId,
  scope,
  held,
}: {
  org: Org;
  projectId: string;
  scope: "logs:read" | "traces:read" | "metrics:read";
  held: HeldKey | undefined;
}) {
  const action = useAction();
  const [pasted, setPasted] = useState("");
  if (held?.scopes.includes(scope)) {
    return (
      <p className="muted keyline">
        Reading with key “{held.name}” (kept in this tab's memory only).{" "}
        <button type="button" className="link" onClick={() => { forgetKey(projectId); }}>
          Use another key
        </button>
      </p>
    );
  }
  const use = (event: SyntheticEvent) => {
    event.preventDefault();
    holdKey(projectId, { secret: pasted.trim(), scopes: [scope], name: "pasted key" });
    setPasted("");
  };
  const create = async () => {
    const expires = new Date(Date.now() + READ_KEY_HOURS * 3_600_000).toISOString();
    const key = await action.run(() =>
      api<Key>(`/v1/projects/${encodeURIComponent(projectId)}/keys`, {
        method: "POST",
        body: { name: `console read key (${READ_KEY_HOURS} h)`, scopes: ["logs:read", "traces:read", "metrics:read"], expires_at: expires },
      }),
    );
    if (key?.key) holdKey(projectId, { secret: key.key, scopes: key.scopes, name: key.name });
  };
  return (
    <div className="panel stack">
      <p>
        Reading telemetry needs a key of this project with <code>{scope}</code>. It stays in this tab's
        memory and is forgotten on reload.
      </p>
      <form onSubmit={use} className="inline">
        <Field label="Project key">
          <input type="password" autoComplete="off" required pattern="tg[po]_.+" value={pasted} onChange={(e) => { setPasted(e.target.value); }} />
        </Field>
        <button type="submit">Use this key</button>
      </form>
      {can(org.role, "keys.write") ? (
        <div>
          <button type="button" className="secondary" disabled={action.busy} onClick={() => void create()}>
            Create a read-only key for {READ_KEY_HOURS} hour
          </button>
        </div>
      ) : null}
      <ErrorBox error={action.error} />
    </div>
  );
}
