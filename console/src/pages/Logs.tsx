// Log search with the query language: level, service and time filters, newest first, paged by
// the API's cursor; a syntax error is shown as the API's detail with its position marked.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api, ApiError } from "../api";
import { Link } from "../components/Link";
import { ProjectGate } from "../components/ProjectGate";
import { ReadKey } from "../components/ReadKey";
import { Field, Loading } from "../components/ui";
import { useAction } from "../hooks";
import { utc } from "../format";
import { useHeldKey } from "../keystore";
import { LEVELS, markPosition, searchBody, TIME_RANGES } from "../logquery";
import type { SearchForm } from "../logquery";
import type { LogRecord, Org, Project } from "../types";

interface Results {
  items: LogRecord[];
  next_cursor: string | null;
  /** The form the results answer (pages continue it, not the edited form). */
  form: SearchForm;
}

export function Logs({ org, projectId }: { org: Org; projectId: string }) {
  return (
    <ProjectGate org={org} projectId={projectId}>
      {(project) => <LogSearch org={org} project={project} />}
    </ProjectGate>
  );
}

function LogSearch({ org, project }: { org: Org; project: Project }) {
  const projectId = project.id;
  const held = useHeldKey(projectId);
  const action = useAction();
  const [form, setForm] = useState<SearchForm>({ query: "", level: "", service: "", range: 2 });
  const [results, setResults] = useState<Results | null>(null);
  const [asked, setAsked] = useState("");
  const path = `/p/${encodeURIComponent(projectId)}/logs/search`;

  const fetchPage = async (f: SearchForm, cursor?: string) => {
    if (!held) return;
    const page = await action.run(() =>
      api<{ items: LogRecord[]; next_cursor: string | null }>(path, {
        method: "POST",
        key: held.secret,
        body: searchBody(f, new Date(), cursor),
      }),
    );
    if (!page) return;
    setResults((previous) => ({
      items: cursor && previous ? [...previous.items, ...page.items] : page.items,
      next_cursor: page.next_cursor,
      form: f,
    }));
  };
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setAsked(form.query);
    void fetchPage(form);
  };
  const error = action.error;
  const position = error instanceof ApiError ? error.position : undefined;

  return (
    <section aria-labelledby="logs-title">
      <p className="crumbs">
        <Link href={`/orgs/${org.slug}`}>Projects</Link> / <Link href={`/orgs/${org.slug}/projects/${projectId}`}>{project.name}</Link> /
      </p>
      <h1 id="logs-title">Logs</h1>
      <ReadKey org={org} projectId={projectId} scope="logs:read" held={held} />
      <form onSubmit={submit} className="search" role="search" aria-label="Search logs">
        <Field label="Query">
          <input
            value={form.query}
            onChange={(e) => { setForm({ ...form, query: e.target.value }); }}
            placeholder='timeout service:api -level:DEBUG'
            aria-describedby="syntax"
            spellCheck={false}
          />
        </Field>
        <Field label="Level">
          <select value={form.level} onChange={(e) => { setForm({ ...form, level: e.target.value }); }}>
            <option value="">Any</option>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Service">
          <input value={form.service} onChange={(e) => { setForm({ ...form, service: e.target.value }); }} />
        </Field>
        <Field label="Time range">
          <select value={form.range} onChange={(e) => { setForm({ ...form, range: Number(e.target.value) }); }}>
            {TIME_RANGES.map((r, i) => (
              <option key={r.label} value={i}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" disabled={!held?.scopes.includes("logs:read") || action.busy}>
          Search
        </button>
      </form>
      <details id="syntax" className="help">
        <summary>Query syntax</summary>
        <ul>
          <li><code>timeout</code> a word in the message; <code>"payment failed"</code> a phrase</li>
          <li><code>level:ERROR</code>, <code>service:checkout</code>, <code>trace_id:…</code>, <code>user_id:42</code> (attributes)</li>
          <li><code>timeout OR refused</code>, <code>timeout AND db</code> (or just <code>timeout db</code>)</li>
          <li><code>NOT level:DEBUG</code> or <code>-level:DEBUG</code>; parentheses group; NOT &gt; AND &gt; OR</li>
        </ul>
      </details>
      {error ? (
        <div role="alert" className="error">
          <p>{error.detail}</p>
          {position !== undefined ? (
            <pre className="caret" aria-label={`Error at position ${position}`}>
              {markPosition(asked, position)[0]}
              <mark>{markPosition(asked, position)[1]}</mark>
              {markPosition(asked, position)[2]}
            </pre>
          ) : null}
        </div>
      ) : null}
      {action.busy && !results ? <Loading what="Searching" /> : null}
      {results ? (
        <>
          <p className="muted" aria-live="polite">
            {results.items.length} record{results.items.length === 1 ? "" : "s"}
            {results.next_cursor ? " (more available)" : ""}
          </p>
          <ol className="logs" data-testid="log-results">
            {results.items.map((r) => (
              <li key={r.id} className={`lvl-${r.level.toLowerCase()}`}>
                <time dateTime={r.time}>{utc(r.time)}</time> <span className="level">{r.level}</span>{" "}
                <span className="service">{r.service ?? "unknown"}</span> <span className="body">{r.body ?? ""}</span>
                {r.trace_id ? (
                  <>
                    {" "}
                    <Link href={`/orgs/${org.slug}/projects/${projectId}/traces/${r.trace_id}`}>trace</Link>
                  </>
                ) : null}
              </li>
            ))}
          </ol>
          {results.next_cursor ? (
            <button type="button" className="secondary" disabled={action.busy} onClick={() => void fetchPage(results.form, results.next_cursor ?? undefined)}>
              {action.busy ? "Loading…" : "Load more"}
            </button>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
