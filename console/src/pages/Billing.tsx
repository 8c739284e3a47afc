// Plan and spend cap, the upcoming invoice (the current period rated so far) and issued invoices.
// Changing plan asks for confirmation; the upcoming invoice then shows the proration line.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { ErrorBox, Field, Loading } from "../components/ui";
import { utc } from "../format";
import { useAction, useApi } from "../hooks";
import { can } from "../roles";
import type { Org, Subscription } from "../types";

interface Plan {
  code: string;
  name: string;
  price: string;
  currency: string;
  included: Record<string, number>;
  retention_days: number;
}

interface InvoiceLine {
  kind: string;
  category: string | null;
  description: string;
  quantity: string;
  unit_price: string;
  amount: string;
}

export interface Invoice {
  id: string | null;
  period_start: string;
  period_end: string;
  status: string;
  plan: string;
  lines: InvoiceLine[];
  subtotal: string;
  total: string;
  issued_at?: string | null;
}

/** What a change does, in the API's rules: an upgrade applies at once (prorated), a downgrade at
 * the period's end. */
export function changeSummary(plans: Plan[], from: string, to: string): string {
  const price = (code: string) => Number(plans.find((p) => p.code === code)?.price ?? "0");
  if (from === to) return "Only the spend cap changes.";
  return price(to) > price(from)
    ? `Upgrading to ${to} applies now: the rest of this period's base fee is prorated onto the upcoming invoice, with ${to}'s quotas.`
    : `Downgrading to ${to} takes effect at the end of this period; until then ${from} stays.`;
}

export function Billing({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}`;
  const readsInvoices = can(org.role, "billing.read");
  const plans = useApi<Plan[]>("/v1/plans");
  const subscription = useApi<Subscription & { scheduled_plan?: string | null }>(`${base}/subscription`);
  const upcoming = useApi<Invoice>(readsInvoices ? `${base}/invoices/upcoming` : null);
  const issued = useApi<Page<Invoice>>(readsInvoices ? `${base}/invoices` : null);
  const changed = () => {
    subscription.reload();
    upcoming.reload();
  };
  return (
    <section aria-labelledby="billing-title">
      <h1 id="billing-title">Plan and billing</h1>
      {subscription.loading && !subscription.data ? <Loading what="Loading the plan" /> : null}
      <ErrorBox error={subscription.error ?? plans.error} />
      {subscription.data ? (
        <p>
          Plan <strong>{subscription.data.plan}</strong> ({subscription.data.status}) until {utc(subscription.data.period_end)}
          {subscription.data.spend_cap ? `, spend cap $${subscription.data.spend_cap}` : ", no spend cap"}
          {subscription.data.scheduled_plan ? `; changes to ${subscription.data.scheduled_plan} at the period's end` : ""}.
        </p>
      ) : null}
      {subscription.data && plans.data && can(org.role, "billing.write") ? (
        <ChangePlan base={base} plans={plans.data} current={subscription.data} onChanged={changed} />
      ) : null}
      {readsInvoices ? (
        <>
          <h2>Upcoming invoice</h2>
          <ErrorBox error={upcoming.error} />
          {upcoming.data ? <InvoiceTable invoice={upcoming.data} /> : <Loading what="Rating this period" />}
          <h2>Invoices</h2>
          <ErrorBox error={issued.error} />
          {issued.data?.items.length === 0 ? <p>No invoice issued yet.</p> : null}
          {issued.data?.items.map((i) => (
            <details key={i.id} className="panel">
              <summary>
                {utc(i.period_start)} – {utc(i.period_end)}: ${i.total} ({i.status})
              </summary>
              <InvoiceTable invoice={i} />
            </details>
          ))}
        </>
      ) : (
        <p className="muted">Your role ({org.role}) does not see invoices.</p>
      )}
    </section>
  );
}

function ChangePlan({
  base,
  plans,
  current,
  onChanged,
}: {
  base: string;
  plans: Plan[];
  current: Subscription;
  onChanged: () => void;
}) {
  const action = useAction();
  const [plan, setPlan] = useState(current.plan);
  const [cap, setCap] = useState(current.spend_cap ?? "");
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!window.confirm(changeSummary(plans, current.plan, plan))) return;
    const done = await action.run(() =>
      api(`${base}/subscription`, { method: "PUT", body: { plan, spend_cap: cap.trim() ? cap.trim() : null } }),
    );
    if (done) onChanged();
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="plan-title">
      <h2 id="plan-title">Change plan</h2>
      <div className="inline">
        <Field label="Plan">
          <select value={plan} onChange={(e) => { setPlan(e.target.value); }}>
            {plans.map((p) => (
              <option key={p.code} value={p.code}>
                {p.name} — ${p.price}/month, {p.retention_days} days retention
              </option>
            ))}
          </select>
        </Field>
        <Field label="Spend cap (USD, empty for none)">
          <input inputMode="decimal" pattern="\d+(\.\d{1,2})?" value={cap} onChange={(e) => { setCap(e.target.value); }} />
        </Field>
        <button type="submit" disabled={action.busy}>
          Apply
        </button>
      </div>
      <p className="muted">{changeSummary(plans, current.plan, plan)}</p>
      <ErrorBox error={action.error} />
    </form>
  );
}

function InvoiceTable({ invoice }: { invoice: Invoice }) {
  return (
    <div className="scroll">
      <table>
        <caption>
          {invoice.plan} plan, {utc(invoice.period_start)} – {utc(invoice.period_end)} ({invoice.status})
        </caption>
        <thead>
          <tr>
            <th scope="col">Line</th>
            <th scope="col">Quantity</th>
            <th scope="col">Unit price</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {invoice.lines.map((l, i) => (
            <tr key={`${l.kind}-${l.category ?? ""}-${String(i)}`}>
              <td>{l.description}</td>
              <td>{l.quantity}</td>
              <td>${l.unit_price}</td>
              <td>${l.amount}</td>
            </tr>
          ))}
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td data-testid="invoice-total">${invoice.total}</td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}
