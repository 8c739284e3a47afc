// The trace list's filter form: submitting writes the filters into the URL (shareable view).
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { navigate } from "../router";
import { filtersToQuery, NO_FILTERS, TRACE_RANGES } from "../tracefilters";
import type { TraceFilters } from "../tracefilters";
import { Field } from "./ui";

export function TraceFilterForm({ path, filters }: { path: string; filters: TraceFilters }) {
  const [form, setForm] = useState<TraceFilters>(filters);
  const set = (patch: Partial<TraceFilters>) => { setForm({ ...form, ...patch }); };
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    navigate(`${path}${filtersToQuery(form)}`);
  };
  return (
    <form onSubmit={submit} className="filters" aria-label="Filter traces">
      <Field label="Service">
        <input maxLength={200} value={form.service} onChange={(e) => { set({ service: e.target.value }); }} />
      </Field>
      <Field label="Operation">
        <input maxLength={200} value={form.operation} placeholder="span name" onChange={(e) => { set({ operation: e.target.value }); }} />
      </Field>
      <Field label="Min duration (ms)">
        <input type="number" min={0} step="any" inputMode="decimal" value={form.minMs} onChange={(e) => { set({ minMs: e.target.value }); }} />
      </Field>
      <Field label="Max duration (ms)">
        <input type="number" min={0} step="any" inputMode="decimal" value={form.maxMs} onChange={(e) => { set({ maxMs: e.target.value }); }} />
      </Field>
      <Field label="Time range">
        <select value={form.range} onChange={(e) => { set({ range: e.target.value }); }}>
          <option value="">Default window</option>
          {TRACE_RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </Field>
      <label className="check">
        <input type="checkbox" checked={form.errorsOnly} onChange={(e) => { set({ errorsOnly: e.target.checked }); }} />
        Errors only
      </label>
      <button type="submit">Filter</button>
      <button type="button" className="secondary" onClick={() => { setForm(NO_FILTERS); navigate(path); }}>
        Clear
      </button>
    </form>
  );
}
