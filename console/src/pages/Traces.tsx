// Recent traces of a project and one trace's waterfall (span tree on a time axis, errors marked).
import { useEffect, useState } from "react";
import { api } from "../api";
import type { ApiError } from "../api";
import { Link } from "../components/Link";
import { ProjectGate } from "../components/ProjectGate";
import { ReadKey } from "../components/ReadKey";
import { ErrorBox, Loading } from "../components/ui";
import { duration, utc } from "../format";
import { useHeldKey } from "../keystore";
import type { Org, Project, Span, TraceSummary } from "../types";
import { waterfall } from "../waterfall";

interface Keyed<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
}

/** GET a data-plane path with a project key (none yet: nothing loads). */
function useKeyed<T>(path: string | null, key: string | undefined): Keyed<T> {
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
  const list = useKeyed<{ items: TraceSummary[] }>(traceId ? null : `${base}?limit=50`, key);
  const trace = useKeyed<{ spans: Span[] }>(traceId ? `${base}/${encodeURIComponent(traceId)}` : null, key);
  const project = `/orgs/${org.slug}/projects/${projectId}`;
  return (
    <section aria-labelledby="traces-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}`}>Projects</Link> / <Link href={project}>{p.name}</Link> /{" "}
        {traceId ? <Link href={`${project}/traces`}>Traces</Link> : null}
      </p>
      <h1 id="traces-title">{traceId ? `Trace ${traceId}` : "Traces"}</h1>
      <ReadKey org={org} projectId={projectId} scope="traces:read" held={held} />
      {list.loading || trace.loading ? <Loading /> : null}
      <ErrorBox error={list.error ?? trace.error} />
      {list.data ? (
        list.data.items.length === 0 ? (
          <p>No traces yet.</p>
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
      {trace.data ? <Waterfall spans={trace.data.spans} /> : null}
    </section>
  );
}

function Waterfall({ spans }: { spans: Span[] }) {
  const rows = waterfall(spans);
  return (
    <ol className="waterfall" aria-label="Spans by start time">
      {rows.map((r) => (
        <li key={r.span.span_id} className={r.error ? "error-span" : ""}>
          <span className="label" style={{ paddingLeft: `${Math.min(r.depth, 12) * 0.75}rem` }}>
            {r.span.service ?? "unknown"} · {r.span.name} · {duration(r.span.duration_ns)}
            {r.error ? " · error" : ""}
          </span>
          <span className="track" aria-hidden="true">
            <span className="bar" style={{ left: `${(r.offset * 100).toFixed(2)}%`, width: `${(r.width * 100).toFixed(2)}%` }} />
          </span>
        </li>
      ))}
    </ol>
  );
}
