// Recent traces of a project and one trace's waterfall (span tree on a time axis, errors marked).
import { useEffect, useMemo, useState } from "react";
import { api } from "../api";
import type { ApiError } from "../api";
import { Link } from "../components/Link";
import { ProjectGate } from "../components/ProjectGate";
import { ReadKey } from "../components/ReadKey";
import { TraceFilterForm } from "../components/TraceFilterForm";
import { ErrorBox, Loading } from "../components/ui";
import { duration, utc } from "../format";
import { useHeldKey } from "../keystore";
import { useLocation } from "../router";
import { filtered, filtersFromQuery, tracesApiQuery } from "../tracefilters";
import type { LogRecord, Org, Project, Span, TraceSummary } from "../types";
import { waterfall } from "../waterfall";

interface Keyed<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
}

/** GET a data-plane path with a project key (none yet: nothing loads). */
export function useKeyed<T>(path: string | null, key: string | undefined): Keyed<T> {
  const [state, setState] = useState<{ for: string; data?: T; error?: ApiError }>({ for: "" });
  const id = `${path ?? ""}|${key ?? ""}`;
  useEffect(() => {
    if (!path || !key) return;
    let live = true;
    api<T>(path, { key }).then(
      (data) => { if (live) setState({ for: id, data }); },
      (error: unknown) => { if (live) setState({ for: id, error: error as ApiError }); },
    );
    return () => { live = false; };
  }, [path, key, id]);
  const current = state.for === id;
  return { data: current ? state.data : undefined, error: current ? state.error : undefined, loading: Boolean(path && key) && !current };
}

export function Traces({ org, projectId, traceId }: { org: Org; projectId: string; traceId: string | undefined }) {
  return (
    <ProjectGate org={org} projectId={projectId}>
      {(project) => <TraceView org={org} project={project} traceId={traceId} />}
    </ProjectGate>
  );
}

function TraceView({ org, project: p, traceId }: { org: Org; project: Project; traceId: string | undefined }) {
  const projectId = p.id;
  const held = useHeldKey(projectId);
  const key = held?.scopes.includes("traces:read") ? held.secret : undefined;
  const base = `/p/${encodeURIComponent(projectId)}/traces`;
  const location = useLocation();
  const search = location.split("?")[1] ?? "";
  const filters = useMemo(() => filtersFromQuery(search), [search]);
  // computed once per URL: a relative range must not move on every render (and refetch)
  const listQuery = useMemo(() => tracesApiQuery(filters, new Date()), [filters]);
  const list = useKeyed<{ items: TraceSummary[] }>(traceId ? null : `${base}?${listQuery}`, key);
  const trace = useKeyed<{ spans: Span[] }>(traceId ? `${base}/${encodeURIComponent(traceId)}` : null, key);
  const analysis = useKeyed<Analysis>(traceId ? `${base}/${encodeURIComponent(traceId)}/analysis` : null, key);
  const logsKey = held?.scopes.includes("logs:read") ? held.secret : undefined;
  const logs = useKeyed<{ items: LogRecord[] }>(
    traceId ? `${base}/${encodeURIComponent(traceId)}/logs?limit=100` : null,
    logsKey,
  );
  const project = `/orgs/${org.slug}/projects/${projectId}`;
  return (
    <section aria-labelledby="traces-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}`}>Projects</Link> / <Link href={project}>{p.name}</Link> /{" "}
        {traceId ? <Link href={`${project}/traces`}>Traces</Link> : null}
      </p>
      <h1 id="traces-title">{traceId ? `Trace ${traceId}` : "Traces"}</h1>
      <ReadKey org={org} projectId={projectId} scope="traces:read" held={held} />
      {traceId ? null : <TraceFilterForm key={search} path={`${project}/traces`} filters={filters} />}
      {list.loading || trace.loading ? <Loading /> : null}
      <ErrorBox error={list.error ?? trace.error} />
      {list.data ? (
        list.data.items.length === 0 ? (
          <p>{filtered(filters) ? "No trace matches these filters." : "No traces yet."}</p>
        ) : (
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Root</th>
                  <th scope="col">Started</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Spans</th>
                  <th scope="col">Errors</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((t) => (
                  <tr key={t.trace_id} className={t.error_count ? "has-error" : ""}>
                    <td>
                      <Link href={`${project}/traces/${t.trace_id}`}>
                        {t.root_service}: {t.root_name}
                      </Link>
                    </td>
                    <td>{utc(t.start)}</td>
                    <td>{duration(t.duration_ns)}</td>
                    <td>{t.span_count}</td>
                    <td>{t.error_count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
      {trace.data ? (
        <Waterfall spans={trace.data.spans} critical={new Set(analysis.data?.critical_path.map((s) => s.span_id) ?? [])} />
      ) : null}
      {analysis.data && analysis.data.critical_path.length > 0 ? <CriticalPath analysis={analysis.data} /> : null}
      {traceId && trace.data ? (
        <>
          <h2>Logs of this trace</h2>
          {!logsKey ? (
            <p className="muted">The key in use has no logs:read scope.</p>
          ) : logs.error ? (
            <ErrorBox error={logs.error} />
          ) : logs.data ? (
            logs.data.items.length === 0 ? (
              <p className="muted">No log record carries this trace id.</p>
            ) : (
              <ol className="logs" aria-label="Logs of this trace" data-testid="trace-logs">
                {logs.data.items.map((r) => (
                  <li key={r.id} className={`lvl-${r.level}`}>
                    <span className="muted">{utc(r.time)}</span> <span className="level">{r.level}</span>{" "}
                    {r.service ? <span className="service">{r.service}</span> : null} {r.body}
                  </li>
                ))}
              </ol>
            )
          ) : (
            <Loading what="Loading the trace's logs" />
          )}
        </>
      ) : null}
    </section>
  );
}

interface Analysis {
  duration_ns: number;
  critical_path: { span_id: string; service: string; name: string; self_time_ns: number }[];
  self_time_by_service: Record<string, number>;
  errors: { span_id: string; service: string; name: string; message?: string | null }[];
}

function CriticalPath({ analysis }: { analysis: Analysis }) {
  const services = Object.entries(analysis.self_time_by_service).sort((a, b) => b[1] - a[1]);
  return (
    <div className="cards two">
      <div className="card">
        <h2>Critical path</h2>
        <ol aria-label="Critical path" data-testid="critical-path">
          {analysis.critical_path.map((step) => (
            <li key={step.span_id}>
              {step.service} · {step.name} — {duration(step.self_time_ns)} itself
            </li>
          ))}
        </ol>
      </div>
      <div className="card">
        <h2>Self time by service</h2>
        <ul className="plain">
          {services.map(([name, ns]) => (
            <li key={name}>
              {name}: {duration(ns)} ({analysis.duration_ns ? ((ns / analysis.duration_ns) * 100).toFixed(0) : "0"} %)
            </li>
          ))}
        </ul>
        {analysis.errors.length ? (
          <p className="error">
            {analysis.errors.length} failing span{analysis.errors.length === 1 ? "" : "s"}:{" "}
            {analysis.errors.map((e) => `${e.service} ${e.name}${e.message ? ` (${e.message})` : ""}`).join("; ")}
          </p>
        ) : null}
      </div>
    </div>
  );
}

function Waterfall({ spans, critical }: { spans: Span[]; critical: Set<string> }) {
  const rows = waterfall(spans);
  return (
    <ol className="waterfall" aria-label="Spans by start time">
      {rows.map((r) => (
        <li
          key={r.span.span_id}
          className={[r.error ? "error-span" : "", critical.has(r.span.span_id) ? "critical" : ""].join(" ").trim()}
        >
          <span className="label" style={{ paddingLeft: `${Math.min(r.depth, 12) * 0.75}rem` }}>
            {r.span.service ?? "unknown"} · {r.span.name} · {duration(r.span.duration_ns)}
            {r.error ? " · error" : ""}
            {critical.has(r.span.span_id) ? <span className="sr-only"> · on the critical path</span> : null}
          </span>
          <span className="track" aria-hidden="true">
            <span className="bar" style={{ left: `${(r.offset * 100).toFixed(2)}%`, width: `${(r.width * 100).toFixed(2)}%` }} />
          </span>
        </li>
      ))}
    </ol>
  );
}
