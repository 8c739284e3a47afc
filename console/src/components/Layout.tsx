// The frame of every logged-in page: brand, org switcher, navigation, the user and log out.
import type { ReactNode } from "react";
import { can } from "../roles";
import { navigate } from "../router";
import { useSession } from "../session";
import type { Org } from "../types";
import { VerifyBanner } from "../pages/Identity";
import { Link } from "./Link";

interface Props {
  org: Org | undefined;
  current: "projects" | "members" | "usage" | "audit" | "billing" | "settings" | "sso" | "webhooks" | "keys" | "none";
  children: ReactNode;
}

const NEW_ORG = "__new__";

export function Layout({ org, current, children }: Props) {
  const { me, logout } = useSession();
  const orgs = me?.orgs ?? [];
  const out = async () => {
    await logout();
    navigate("/login");
  };
  const nav = org
    ? [
        { id: "projects", href: `/orgs/${org.slug}`, label: "Projects" },
        { id: "members", href: `/orgs/${org.slug}/members`, label: "Members" },
        { id: "usage", href: `/orgs/${org.slug}/usage`, label: "Usage & quotas" },
        { id: "billing", href: `/orgs/${org.slug}/billing`, label: "Billing" },
        ...(can(org.role, "audit.read") ? [{ id: "audit", href: `/orgs/${org.slug}/audit`, label: "Audit log" }] : []),
        ...(can(org.role, "webhooks.manage") ? [{ id: "webhooks", href: `/orgs/${org.slug}/webhooks`, label: "Webhooks" }] : []),
        ...(can(org.role, "sso.manage") ? [{ id: "sso", href: `/orgs/${org.slug}/sso`, label: "SSO" }] : []),
        { id: "settings", href: `/orgs/${org.slug}/settings`, label: "Settings" },
      ]
    : [];
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Tollgate
        </Link>
        {orgs.length > 0 ? (
          <label className="switcher">
            <span className="sr-only">Organization</span>
            <select
              aria-label="Organization"
              value={org?.slug ?? ""}
              onChange={(e) => {
                navigate(e.target.value === NEW_ORG ? "/orgs/new" : `/orgs/${e.target.value}`);
              }}
            >
              {org ? null : <option value="">Choose an organization</option>}
              {orgs.map((o) => (
                <option key={o.id} value={o.slug}>
                  {o.name} ({o.role})
                </option>
              ))}
              <option value={NEW_ORG}>+ New organization…</option>
            </select>
          </label>
        ) : null}
        <nav aria-label="Sections">
          {nav.map((item) => (
            <Link key={item.id} href={item.href} aria-current={current === item.id ? "page" : undefined}>
              {item.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          <span className="muted" title={me?.user.email}>
            {me?.user.email}
          </span>
          <button type="button" className="secondary" onClick={() => void out()}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <VerifyBanner />
        {children}
      </main>
    </>
  );
}
