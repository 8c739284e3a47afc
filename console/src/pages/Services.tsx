// A project's services (spans, errors, latency) and the calls between them (service map), over
// the last hour to seven days; read with a traces:read key.
import { useMemo, useState } from "react";
import { Link } from "../components/Link";
import { ProjectGate } from "../components/ProjectGate";
import { ReadKey } from "../components/ReadKey";
import { ErrorBox, Field, Loading } from "../components/ui";
import { duration } from "../format";
import { useHeldKey } from "../keystore";
import { layout } from "../topology";
import type { Edge } from "../topology";
import type { Org, Project } from "../types";
import { useKeyed } from "./Traces";

interface Service {
  name: string;
  span_count: number;
  error_count: number;
  p50_duration_ns: number;
  p95_duration_ns: number;
}

const RANGES = [
  { label: "Last hour", hours: 1 },
  { label: "Last 24 hours", hours: 24 },
  { label: "Last 7 days", hours: 24 * 7 },
] as const;

export function Services({ org, projectId }: { org: Org; projectId: string }) {
  return (
    <ProjectGate org={org} projectId={projectId}>
      {(project) => <ServicesView org={org} project={project} />}
    </ProjectGate>
  );
}

function ServicesView({ org, project }: { org: Org; project: Project }) {
  const held = useHeldKey(project.id);
  const key = held?.scopes.includes("traces:read") ? held.secret : undefined;
  const [range, setRange] = useState(1);
  const [now] = useState(() => Date.now());
  const span = useMemo(() => {
    const hours = (RANGES[range] ?? RANGES[1]).hours;
    const query = new URLSearchParams({
      start: new Date(now - hours * 3_600_000).toISOString(),
      end: new Date(now + 60_000).toISOString(),
    });
    return query.toString();
  }, [range, now]);
  const base = `/p/${encodeURIComponent(project.id)}`;
  const services = useKeyed<{ items: Service[] }>(`${base}/services?${span}`, key);
  const topology = useKeyed<{ edges: Edge[] }>(`${base}/topology?${span}`, key);
  const home = `/orgs/${org.slug}/projects/${project.id}`;
  return (
    <section aria-labelledby="services-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}`}>Projects</Link> / <Link href={home}>{project.name}</Link> /
      </p>
      <h1 id="services-title">Services and topology</h1>
      <ReadKey org={org} projectId={project.id} scope="traces:read" held={held} />
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
      </div>
      {services.loading || topology.loading ? <Loading /> : null}
      <ErrorBox error={services.error ?? topology.error} />
      {services.data ? (
        services.data.items.length === 0 ? (
          <p>No spans in this range.</p>
        ) : (
          <div className="scroll">
            <table>
              <caption>Services</caption>
              <thead>
                <tr>
                  <th scope="col">Service</th>
                  <th scope="col">Spans</th>
                  <th scope="col">Errors</th>
                  <th scope="col">p50</th>
                  <th scope="col">p95</th>
                </tr>
              </thead>
              <tbody>
                {services.data.items.map((s) => (
                  <tr key={s.name} className={s.error_count ? "has-error" : ""}>
                    <th scope="row">{s.name}</th>
                    <td>{s.span_count}</td>
                    <td>{s.error_count}</td>
                    <td>{duration(s.p50_duration_ns)}</td>
                    <td>{duration(s.p95_duration_ns)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
      {topology.data && topology.data.edges.length > 0 ? (
        <ServiceMap edges={topology.data.edges} services={services.data?.items.map((s) => s.name) ?? []} />
      ) : topology.data ? (
        <p className="muted">No calls between services in this range.</p>
      ) : null}
    </section>
  );
}

const W = 170;
const H = 56;

function ServiceMap({ edges, services }: { edges: Edge[]; services: string[] }) {
  const placed = layout(edges, services);
  const at = new Map(placed.map((p) => [p.name, p]));
  const columns = Math.max(1, ...placed.map((p) => p.column + 1));
  const rows = Math.max(1, ...placed.map((p) => p.row + 1));
  const x = (c: number) => 10 + c * (W + 60);
  const y = (r: number) => 10 + r * (H + 20);
  return (
    <>
      <h2>Calls between services</h2>
      <div className="scroll">
        <svg
          className="topology"
          role="img"
          aria-label={`Service map: ${edges.map((e) => `${e.parent} calls ${e.child}`).join(", ")}`}
          viewBox={`0 0 ${String(x(columns) - 50)} ${String(y(rows))}`}
          width="100%"
          style={{ maxWidth: `${String(x(columns))}px` }}
        >
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
              <path d="M0,0 L10,5 L0,10 z" />
            </marker>
          </defs>
          {edges.map((e) => {
            const from = at.get(e.parent);
            const to = at.get(e.child);
            if (!from || !to || e.parent === e.child) return null;
            return (
              <line
                key={`${e.parent}>${e.child}`}
                className={e.errors ? "edge error" : "edge"}
                x1={x(from.column) + W}
                y1={y(from.row) + H / 2}
                x2={x(to.column)}
                y2={y(to.row) + H / 2}
                markerEnd="url(#arrow)"
              />
            );
          })}
          {placed.map((p) => (
            <g key={p.name} transform={`translate(${String(x(p.column))},${String(y(p.row))})`}>
              <rect width={W} height={H} rx="6" className="node" />
              <text x={W / 2} y={H / 2 + 5} textAnchor="middle">
                {p.name.length > 20 ? `${p.name.slice(0, 19)}…` : p.name}
              </text>
            </g>
          ))}
        </svg>
      </div>
      <div className="scroll">
        <table>
          <caption>Calls (child span latency)</caption>
          <thead>
            <tr>
              <th scope="col">Caller → callee</th>
              <th scope="col">Calls</th>
              <th scope="col">Error rate</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {edges.map((e) => (
              <tr key={`${e.parent}>${e.child}`} className={e.errors ? "has-error" : ""}>
                <th scope="row">
                  {e.parent} → {e.child}
                </th>
                <td>{e.calls}</td>
                <td>{(e.error_rate * 100).toFixed(1)} %</td>
                <td>{duration(e.p50_ns)}</td>
                <td>{duration(e.p95_ns)}</td>
                <td>{duration(e.p99_ns)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
