// Small shared pieces: error, loading and empty states, the copy button, a field wrapper.
import { useState } from "react";
import type { ReactNode } from "react";
import type { ApiError } from "../api";

/** An API failure as its problem `detail`, announced to screen readers. */
export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error.detail}
    </p>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** Copies `text`; `name` is the accessible name when the visible label alone is ambiguous. */
export function CopyButton({ text, label = "Copy", name }: { text: string; label?: string; name?: string }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
    window.setTimeout(() => {
      setCopied("no");
    }, 2000);
  };
  return (
    <button type="button" className="secondary" aria-label={name} onClick={() => void copy()}>
      {copied === "yes" ? "Copied" : copied === "failed" ? "Select and copy" : label}
      <span className="sr-only" aria-live="polite">
        {copied === "yes" ? " copied to the clipboard" : ""}
      </span>
    </button>
  );
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint ? <small className="muted">{hint}</small> : null}
    </label>
  );
}

export function NotFound({ detail }: { detail?: string }) {
  return (
    <section aria-labelledby="nf">
      <h1 id="nf">Not found</h1>
      <p>{detail ?? "There is nothing at this address, or it belongs to an organization you are not in."}</p>
      <p>
        <a href="/">Back to your projects</a>
      </p>
    </section>
  );
}
