// One issued invoice, laid out to print (the print stylesheet hides the console's frame).
import { Link } from "../components/Link";
import { ErrorBox, Loading, NotFound } from "../components/ui";
import { utc } from "../format";
import { useApi } from "../hooks";
import type { Org } from "../types";
import type { Invoice } from "./Billing";
import { InvoiceTable } from "./Billing";

export function InvoicePage({ org, invoiceId }: { org: Org; invoiceId: string }) {
  const invoice = useApi<Invoice & { currency?: string; paid_at?: string | null }>(
    `/v1/orgs/${encodeURIComponent(org.slug)}/invoices/${encodeURIComponent(invoiceId)}`,
  );
  if (invoice.loading && !invoice.data) return <Loading what="Loading the invoice" />;
  if (invoice.error?.status === 404) return <NotFound detail={invoice.error.detail} />;
  if (invoice.error || !invoice.data) return <ErrorBox error={invoice.error} />;
  const i = invoice.data;
  return (
    <article className="invoice" aria-labelledby="invoice-title">
      <p className="crumbs no-print">
        <Link href={`/orgs/${org.slug}/billing`}>Billing</Link> / Invoice
      </p>
      <header className="invoice-head">
        <div>
          <p className="brand">Tollgate</p>
          <h1 id="invoice-title">Invoice {i.id}</h1>
        </div>
        <dl className="facts">
          <dt>Billed to</dt>
          <dd>
            {org.name} (<code>{org.id}</code>)
          </dd>
          <dt>Period</dt>
          <dd>
            {utc(i.period_start)} – {utc(i.period_end)}
          </dd>
          <dt>Issued</dt>
          <dd>{utc(i.issued_at)}</dd>
          <dt>Status</dt>
          <dd>
            {i.status}
            {i.paid_at ? `, paid ${utc(i.paid_at)}` : ""}
          </dd>
          <dt>Currency</dt>
          <dd>{(i.currency ?? "usd").toUpperCase()}</dd>
        </dl>
      </header>
      <InvoiceTable invoice={i} />
      <p className="muted">Amounts are exact per line, each rounded to the cent once; the total is the sum of the lines.</p>
      <p className="no-print">
        <button type="button" onClick={() => { window.print(); }}>
          Print or save as PDF
        </button>
      </p>
    </article>
  );
}
