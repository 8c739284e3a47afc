// Routes of the console; every page under /orgs/:org checks membership from `/v1/me`.
import { useEffect } from "react";
import { Layout } from "./components/Layout";
import { ErrorBox, Loading, NotFound } from "./components/ui";
import { Audit } from "./pages/Audit";
import { Login, Signup } from "./pages/Auth";
import { Billing } from "./pages/Billing";
import { ResetPassword, SsoLogin, VerifyEmail } from "./pages/Identity";
import { InviteAccept } from "./pages/InviteAccept";
import { InvoicePage } from "./pages/Invoice";
import { CreateOrg, OrgSettings } from "./pages/OrgSettings";
import { Services } from "./pages/Services";
import { SsoSettings } from "./pages/Sso";
import { Webhooks } from "./pages/Webhooks";
import { Logs } from "./pages/Logs";
import { Members } from "./pages/Members";
import { OrgKeys } from "./pages/OrgKeys";
import { Metrics } from "./pages/Metrics";
import { ProjectPage } from "./pages/Project";
import { Projects } from "./pages/Projects";
import { Traces } from "./pages/Traces";
import { Usage } from "./pages/Usage";
import { match, navigate, useLocation } from "./router";
import { findOrg, useSession } from "./session";

const PUBLIC = ["/login", "/signup"];
// Pages of mailed links and SSO: shown whether or not someone is logged in.
const OPEN: Record<string, () => React.JSX.Element> = {
  "/verify-email": VerifyEmail,
  "/reset-password": ResetPassword,
  "/sso": SsoLogin,
};

export function App() {
  const location = useLocation();
  const { me, loading, error } = useSession();
  const path = location.split("?")[0] ?? "/";
  const invite = match("/invites/:token", location);
  const Open = OPEN[path];

  useEffect(() => {
    if (loading || invite || Open) return;
    if (!me && !PUBLIC.includes(path)) {
      navigate(`/login?next=${encodeURIComponent(location)}`, true);
    } else if (me && (path === "/" || path === "/billing" || PUBLIC.includes(path))) {
      // `/billing` is where Stripe Checkout returns to (the API's default success URL).
      const first = me.orgs[0];
      const page = path === "/billing" ? "/billing" : "";
      navigate(first ? `/orgs/${first.slug}${page}` : "/orgs", true);
    }
  }, [loading, me, path, location, invite, Open]);

  if (invite) return <InviteAccept token={invite.token ?? ""} />;
  if (loading) return <Loading what="Loading the console" />;
  if (Open) return <Open />;
  if (!me) {
    if (path === "/signup") return <Signup />;
    if (path === "/login") return <Login error={error} />;
    return <Loading />;
  }

  if (path === "/orgs/new") {
    return (
      <Layout org={undefined} current="none">
        <CreateOrg />
      </Layout>
    );
  }
  const invoice = match("/orgs/:org/invoices/:invoice", location);
  const orgRoute =
    invoice ??
    match("/orgs/:org", location) ??
    match("/orgs/:org/:section", location) ??
    match("/orgs/:org/projects/:project", location) ??
    match("/orgs/:org/projects/:project/:tab", location) ??
    match("/orgs/:org/projects/:project/traces/:trace", location);
  if (!orgRoute) {
    return (
      <Layout org={undefined} current="none">
        {path === "/orgs" ? (
          <p>
            You are not in any organization yet. <a href="/orgs/new">Create one</a>
          </p>
        ) : (
          <NotFound />
        )}
        <ErrorBox error={error} />
      </Layout>
    );
  }
  const org = findOrg(me, orgRoute.org ?? "");
  if (!org) {
    return (
      <Layout org={undefined} current="none">
        <NotFound detail="Organization not found" />
      </Layout>
    );
  }
  const { section, project, tab, trace } = orgRoute;
  if (invoice) {
    return (
      <Layout org={org} current="billing">
        <InvoicePage org={org} invoiceId={invoice.invoice ?? ""} />
      </Layout>
    );
  }
  if (project) {
    const page =
      tab === undefined && trace === undefined ? (
        <ProjectPage org={org} projectId={project} />
      ) : tab === "logs" ? (
        <Logs org={org} projectId={project} />
      ) : tab === "metrics" ? (
        <Metrics org={org} projectId={project} />
      ) : tab === "services" ? (
        <Services org={org} projectId={project} />
      ) : tab === "traces" || trace !== undefined ? (
        <Traces org={org} projectId={project} traceId={trace} />
      ) : (
        <NotFound />
      );
    return (
      <Layout org={org} current="projects">
        {page}
      </Layout>
    );
  }
  if (section === undefined) {
    return (
      <Layout org={org} current="projects">
        <Projects org={org} />
      </Layout>
    );
  }
  const sections = {
    members: Members,
    usage: Usage,
    audit: Audit,
    billing: Billing,
    settings: OrgSettings,
    sso: SsoSettings,
    webhooks: Webhooks,
    keys: OrgKeys,
  } as const;
  if (section in sections) {
    const key = section as keyof typeof sections;
    const Section = sections[key];
    return (
      <Layout org={org} current={key}>
        <Section key={org.id} org={org} />
      </Layout>
    );
  }
  return (
    <Layout org={org} current="none">
      <NotFound />
    </Layout>
  );
}
