// The metrics explorer: a PromQL range query over a chosen window, drawn with uPlot; metric
// names, label names and label values from the label API complete the query field.
import { useMemo, useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import { Chart, PALETTE } from "../components/Chart";
import type { ChartSeries } from "../components/Chart";
import { Link } from "../components/Link";
import { PromInput } from "../components/PromInput";
import { ProjectGate } from "../components/ProjectGate";
import { ReadKey } from "../components/ReadKey";
import { Field, ErrorBox, Loading } from "../components/ui";
import { compact } from "../format";
import { useAction } from "../hooks";
import { useHeldKey } from "../keystore";
import { align, MAX_SERIES, stepFor } from "../promql";
import type { PromAnswer } from "../promql";
import type { Org, Project } from "../types";

const RANGES = [
  { label: "Last 15 minutes", seconds: 900 },
  { label: "Last hour", seconds: 3600 },
  { label: "Last 6 hours", seconds: 21_600 },
  { label: "Last 24 hours", seconds: 86_400 },
] as const;

export function Metrics({ org, projectId }: { org: Org; projectId: string }) {
  return (
    <ProjectGate org={org} projectId={projectId}>
      {(project) => <Explorer org={org} project={project} />}
    </ProjectGate>
  );
}

function Explorer({ org, project }: { org: Org; project: Project }) {
  const held = useHeldKey(project.id);
  const key = held?.scopes.includes("metrics:read") ? held.secret : undefined;
  const base = `/p/${encodeURIComponent(project.id)}/prometheus/api/v1`;
  const action = useAction();
  const [query, setQuery] = useState("");
  const [range, setRange] = useState(1);
  const [answer, setAnswer] = useState<{ query: string; result: PromAnswer } | null>(null);

  const run = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!key) return;
    const seconds = RANGES[range]?.seconds ?? 3600;
    const end = Math.floor(Date.now() / 1000);
    const params = new URLSearchParams({
      query,
      start: String(end - seconds),
      end: String(end),
      step: String(stepFor(seconds)),
    });
    const result = await action.run(() => api<PromAnswer>(`${base}/query_range?${params.toString()}`, { key }));
    if (result) setAnswer({ query, result });
  };

  const chart = useMemo(() => {
    const aligned = align(answer?.result.data?.result ?? []);
    const series: ChartSeries[] = aligned.series.map((s, i) => ({
      label: s.label,
      values: s.values,
      color: PALETTE[i % PALETTE.length] ?? "#000",
    }));
    return { x: aligned.x, series, total: answer?.result.data?.result.length ?? 0 };
  }, [answer]);

  return (
    <section aria-labelledby="metrics-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}`}>Projects</Link> /{" "}
        <Link href={`/orgs/${org.slug}/projects/${project.id}`}>{project.name}</Link> /
      </p>
      <h1 id="metrics-title">Metrics</h1>
      <ReadKey org={org} projectId={project.id} scope="metrics:read" held={held} />
      <form onSubmit={(e) => void run(e)} className="search" aria-label="Query metrics">
        <PromInput base={base} apiKey={key} value={query} onChange={setQuery} />
        <Field label="Time range">
          <select value={range} onChange={(e) => { setRange(Number(e.target.value)); }}>
            {RANGES.map((r, i) => (
              <option key={r.label} value={i}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" disabled={!key || action.busy}>
          Run query
        </button>
      </form>
      {action.busy ? <Loading what="Querying" /> : null}
      <ErrorBox error={action.error} />
      {answer && !action.error ? (
        chart.series.length ? (
          <>
            <Chart x={chart.x} series={chart.series} title={`Result of ${answer.query}`} format={compact} />
            {chart.total > MAX_SERIES ? (
              <p className="muted">
                Showing {MAX_SERIES} of {chart.total} series: narrow the query to see the others.
              </p>
            ) : null}
          </>
        ) : (
          <p className="muted">No data for {answer.query} in this range.</p>
        )
      ) : null}
    </section>
  );
}
