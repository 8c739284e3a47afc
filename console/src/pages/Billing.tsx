// Plan and spend cap, the upcoming invoice (the current period rated so far) and issued invoices.
// A plan change is previewed first (the API prices it as the change would, changing nothing) and
// applied only on confirmation; payment methods go through Stripe Checkout and the portal.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { Link } from "../components/Link";
import { ErrorBox, Field, Loading } from "../components/ui";
import { utc } from "../format";
import { PaymentButtons } from "./Payment";
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

export interface ChangePreview {
  plan: string;
  change: "upgrade" | "downgrade" | "none";
  effective_at: string;
  payment_method_required: boolean;
  added: string;
  upcoming_before: Invoice;
  upcoming_after: Invoice;
}

/** The preview in one sentence: what the change costs now and when it applies. */
export function previewSummary(p: ChangePreview, from: string): string {
  if (p.change === "none") return `You stay on ${from}; the upcoming invoice stays at $${p.upcoming_before.total}.`;
  if (p.change === "downgrade") {
    return `${from} stays until ${utc(p.effective_at)}, then ${p.plan} applies; the upcoming invoice stays at $${p.upcoming_before.total} (no credit is given).`;
  }
  return `${p.plan} applies now: the upcoming invoice goes from $${p.upcoming_before.total} to $${p.upcoming_after.total} (+$${p.added}).`;
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
        <>
          <ChangePlan base={base} plans={plans.data} current={subscription.data} onChanged={changed} />
          <PaymentButtons base={base} />
        </>
      ) : null}
      {readsInvoices ? (
        <>
          <h2>Upcoming invoice</h2>
          <ErrorBox error={upcoming.error} />
          {upcoming.data ? <InvoiceTable invoice={upcoming.data} /> : <Loading what="Rating this period" />}
          <h2>Invoices</h2>
          <ErrorBox error={issued.error} />
          {issued.data?.items.length === 0 ? <p>No invoice issued yet.</p> : null}
          {issued.data && issued.data.items.length > 0 ? (
            <ul className="plain">
              {issued.data.items.map((i) => (
                <li key={i.id}>
                  <Link href={`/orgs/${org.slug}/invoices/${i.id ?? ""}`}>
                    {utc(i.period_start)} – {utc(i.period_end)}: ${i.total} ({i.status})
                  </Link>
                </li>
              ))}
            </ul>
          ) : null}
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
  const [preview, setPreview] = useState<ChangePreview | null>(null);
  const [done, setDone] = useState("");
  const review = async (event: SyntheticEvent) => {
    event.preventDefault();
    setDone("");
    const answer = await action.run(() =>
      api<ChangePreview>(`${base}/subscription/preview?plan=${encodeURIComponent(plan)}`),
    );
    setPreview(answer ?? null);
  };
  const confirm = async () => {
    const applied = await action.run(() =>
      api(`${base}/subscription`, { method: "PUT", body: { plan, spend_cap: cap.trim() ? cap.trim() : null } }),
    );
    if (applied) {
      setPreview(null);
      setDone(`Done: ${changeSummary(plans, current.plan, plan)}`);
      onChanged();
    }
  };
  return (
    <form onSubmit={(e) => void review(e)} className="panel stack" aria-labelledby="plan-title">
      <h2 id="plan-title">Change plan</h2>
      <div className="inline">
        <Field label="Plan">
          <select value={plan} onChange={(e) => { setPlan(e.target.value); setPreview(null); }}>
            {plans.map((p) => (
              <option key={p.code} value={p.code}>
                {p.name} — ${p.price}/month, {p.retention_days} days retention
              </option>
            ))}
          </select>
        </Field>
        <Field label="Spend cap (USD, empty for none)">
          <input inputMode="decimal" pattern="\d+(\.\d{1,2})?" value={cap} onChange={(e) => { setCap(e.target.value); setPreview(null); }} />
        </Field>
        <button type="submit" disabled={action.busy}>
          Preview the change
        </button>
      </div>
      <p className="muted">{changeSummary(plans, current.plan, plan)}</p>
      {preview ? (
        <div className="preview stack" role="region" aria-label="Plan change preview">
          <p data-testid="preview-summary">
            <strong>{previewSummary(preview, current.plan)}</strong>
          </p>
          {preview.change === "upgrade" ? <InvoiceTable invoice={preview.upcoming_after} testId="preview-total" /> : null}
          {preview.payment_method_required ? (
            <p className="notice">{preview.plan} needs a payment method on file first: add one below.</p>
          ) : null}
          <div className="row">
            <button type="button" disabled={action.busy} onClick={() => void confirm()}>
              Confirm the change
            </button>
            <button type="button" className="secondary" onClick={() => { setPreview(null); }}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {done ? <p role="status">{done}</p> : null}
      <ErrorBox error={action.error} />
    </form>
  );
}

export function InvoiceTable({ invoice, testId = "invoice-total" }: { invoice: Invoice; testId?: string }) {
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
            <td data-testid={testId}>${invoice.total}</td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}
