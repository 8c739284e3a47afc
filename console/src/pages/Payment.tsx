// Payment method and invoice history through Stripe (Checkout in setup mode, the Customer Portal);
// without Stripe the API answers 409 billing_not_configured and the local flow is explained.
import { useState } from "react";
import { api, ApiError } from "../api";
import { ErrorBox } from "../components/ui";

export const LOCAL_FLOW =
  "Payments are not collected through Stripe on this Tollgate: invoices are issued here each period, " +
  "and the operator records payments received another way (mark-paid). No card is needed to change plan.";

/** True when the API says Stripe is not configured (the local flow applies). */
export function isLocalFlow(error: ApiError | undefined): boolean {
  return error?.status === 409;
}

export function PaymentButtons({ base }: { base: string }) {
  const [busy, setBusy] = useState(false);
  const [local, setLocal] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const go = async (what: "checkout" | "portal") => {
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api<{ url: string }>(`${base}/billing/${what}`, { method: "POST" });
      window.location.assign(answer.url);
    } catch (caught) {
      const problem = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      if (isLocalFlow(problem)) setLocal(true);
      else setError(problem);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel stack" role="region" aria-label="Payment">
      <h2>Payment method and invoice history</h2>
      <div className="row">
        <button type="button" className="secondary" disabled={busy} onClick={() => void go("checkout")}>
          Add a payment method
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={() => void go("portal")}>
          Open the billing portal
        </button>
      </div>
      {local ? (
        <p className="notice" role="status">
          {LOCAL_FLOW}
        </p>
      ) : null}
      <ErrorBox error={error} />
    </div>
  );
}
