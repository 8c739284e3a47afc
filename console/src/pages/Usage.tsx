// Plan, quotas with their progress, and usage over time by category and outcome — including what
// was refused and why (rate limits, quota, spend cap, invalid, store down).
import { useMemo, useState } from "react";
import { Chart } from "../components/Chart";
import type { ChartSeries } from "../components/Chart";
import { ErrorBox, Field, Loading } from "../components/ui";
import { useApi } from "../hooks";
import { fraction, units, utc } from "../format";
import type { Org, Quotas, Subscription, UsageItem } from "../types";
import { OUTCOMES, projectTotals, totals, usageSeries } from "../usage";
import type { Page } from "../api";
import type { Project } from "../types";

const CATEGORIES = ["metrics", "logs", "traces", "spans"] as const;
const COLORS: Record<string, string> = {
  accepted: "#1a7f37",
  rate_limited: "#bf8700",
  quota_exceeded: "#cf222e",
  spend_cap: "#8250df",
  invalid: "#57606a",
  store_unavailable: "#0969da",
};
const RANGES = [
  { label: "Last 24 hours", hours: 24, granularity: "hour" },
  { label: "Last 7 days", hours: 24 * 7, granularity: "hour" },
  { label: "Last 30 days", hours: 24 * 30, granularity: "day" },
] as const;

export function Usage({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}`;
  const subscription = useApi<Subscription>(`${base}/subscription`);
  const quotas = useApi<Quotas>(`${base}/quotas`);
  const [range, setRange] = useState(0);
  const [category, setCategory] = useState<string>("logs");
  const [project, setProject] = useState("");
  const projects = useApi<Page<Project>>(`${base}/projects?limit=200`);
  const chosen = RANGES[range] ?? RANGES[0];
  // The page's clock is read once (re-reading per render would refetch on every render); the
  // window ends at the next whole hour, the chart's step.
  const [now] = useState(() => Date.now());
  const span = useMemo(() => {
    const to = new Date(Math.ceil(now / 3_600_000) * 3_600_000);
    return { from: new Date(to.getTime() - chosen.hours * 3_600_000), to };
  }, [chosen, now]);
  const usage = useApi<{ items: UsageItem[] }>(
    `${base}/usage?granularity=${chosen.granularity}&group_by=project,category,outcome&from=${span.from.toISOString()}&to=${span.to.toISOString()}`,
  );
  const step = chosen.granularity === "hour" ? 3600 : 86_400;
  const series = useMemo(() => {
    const s = usageSeries(usage.data?.items ?? [], category, span.from, new Date(span.to.getTime() - 1), step, project);
    const lines: ChartSeries[] = OUTCOMES.filter((o) => s.ys[o]).map((o) => ({
      label: o,
      values: s.ys[o] ?? [],
      color: COLORS[o] ?? "#000",
    }));
    return { x: s.x, lines };
  }, [usage.data, category, span, step, project]);
  const sums = useMemo(() => totals(usage.data?.items ?? []), [usage.data]);
  const byProject = useMemo(() => projectTotals(usage.data?.items ?? [], category), [usage.data, category]);
  const names = useMemo(() => new Map((projects.data?.items ?? []).map((p) => [p.id, p.name])), [projects.data]);
  const format = useMemo(() => (v: number) => units(category, v), [category]);

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage and quotas</h1>
      <ErrorBox error={subscription.error} />
      {subscription.data ? (
        <p>
          Plan <strong>{subscription.data.plan}</strong> ({subscription.data.status}), period{" "}
          {utc(subscription.data.period_start)} – {utc(subscription.data.period_end)}
          {subscription.data.spend_cap ? `, spend cap $${subscription.data.spend_cap}` : ""}.
        </p>
      ) : null}
      <h2>Quotas this period</h2>
      {quotas.loading && !quotas.data ? <Loading what="Loading quotas" /> : null}
      <ErrorBox error={quotas.error} />
      {quotas.data ? (
        <ul className="quotas">
          {CATEGORIES.map((c) => {
            const q = quotas.data?.categories[c];
            if (!q) return null;
            const share = fraction(q.used, q.included);
            const id = `quota-${c}`;
            return (
              <li key={c} className={share >= 1 ? "over" : share >= 0.8 ? "near" : ""}>
                <span id={id}>
                  {c}: {units(c, q.used)} of {q.included === null ? "unlimited" : units(c, q.included)}
                  {q.overage > 0 ? `, overage ${units(c, q.overage)}` : ""}
                  {q.hard_cap ? " (hard cap: refused beyond)" : " (overage billed beyond)"}
                </span>
                <progress aria-labelledby={id} max={1} value={share} />
              </li>
            );
          })}
        </ul>
      ) : null}
      <h2>Usage over time</h2>
      <div className="inline">
        <Field label="Range">
          <select value={range} onChange={(e) => { setRange(Number(e.target.value)); }}>
            {RANGES.map((r, i) => (
              <option key={r.label} value={i}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Category">
          <select value={category} onChange={(e) => { setCategory(e.target.value); }}>
            {CATEGORIES.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Project">
          <select value={project} onChange={(e) => { setProject(e.target.value); }}>
            <option value="">All projects</option>
            {(projects.data?.items ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {usage.loading && !usage.data ? <Loading what="Loading usage" /> : null}
      <ErrorBox error={usage.error} />
      {usage.data ? (
        series.lines.length ? (
          <Chart
            x={series.x}
            series={series.lines}
            title={`${category} by outcome${project ? ` of ${names.get(project) ?? project}` : ""}, ${chosen.label.toLowerCase()}`}
            format={format}
          />
        ) : (
          <p className="muted">No {category} in this range yet.</p>
        )
      ) : null}
      {usage.data ? (
        <div className="scroll">
          <table>
            <caption>Totals in the range, by outcome (only accepted is billed)</caption>
            <thead>
              <tr>
                <th scope="col">Category</th>
                {OUTCOMES.map((o) => (
                  <th key={o} scope="col">
                    {o.replace("_", " ")}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {CATEGORIES.map((c) => (
                <tr key={c}>
                  <th scope="row">{c}</th>
                  {OUTCOMES.map((o) => (
                    <td key={o}>{units(c, sums[c]?.[o] ?? 0)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {usage.data && byProject.size > 0 ? (
        <div className="scroll">
          <table data-testid="usage-by-project">
            <caption>{category} by project in the range</caption>
            <thead>
              <tr>
                <th scope="col">Project</th>
                {OUTCOMES.map((o) => (
                  <th key={o} scope="col">
                    {o.replace("_", " ")}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {[...byProject.entries()].map(([id, row]) => (
                <tr key={id || "none"}>
                  <th scope="row">{id ? (names.get(id) ?? id) : "(no project)"}</th>
                  {OUTCOMES.map((o) => (
                    <td key={o}>{units(category, row[o] ?? 0)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
