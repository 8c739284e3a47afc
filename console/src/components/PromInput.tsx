// The PromQL field with completion: metric names, label names inside `{…}` and label values
// after `label="`, from the project's label API. An ARIA combobox: arrows move, Enter chooses,
// Escape closes; Enter with nothing chosen submits the form.
import { useEffect, useId, useRef, useState } from "react";
import type { KeyboardEvent } from "react";
import { api } from "../api";
import { applyCompletion, completionAt, HIDDEN_LABELS, labelPath, suggest } from "../promcomplete";

export function PromInput({ base, apiKey, value, onChange }: { base: string; apiKey: string | undefined; value: string; onChange: (query: string) => void }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const cache = useRef(new Map<string, string[]>());
  const [cursor, setCursor] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [candidates, setCandidates] = useState<{ path: string; items: string[] }>({ path: "", items: [] });
  const completion = completionAt(value, cursor);
  const path = completion ? labelPath(completion) : null;

  useEffect(() => {
    if (!path || !apiKey) return;
    const known = cache.current.get(path);
    if (known) {
      setCandidates({ path, items: known });
      return;
    }
    let live = true;
    api<{ data?: string[] }>(`${base}/${path}`, { key: apiKey }).then(
      (answer) => {
        const items = (answer.data ?? []).filter((n) => !path.startsWith("labels") || !HIDDEN_LABELS.has(n));
        cache.current.set(path, items);
        if (live) setCandidates({ path, items });
      },
      () => undefined, // completion is a convenience: the query still runs without it
    );
    return () => { live = false; };
  }, [base, apiKey, path]);

  const options = completion && candidates.path === path ? suggest(candidates.items, completion.prefix) : [];
  const shown = open && options.length > 0;

  const track = () => { setCursor(input.current?.selectionStart ?? value.length); };
  const choose = (choice: string) => {
    if (!completion) return;
    const next = applyCompletion(value, cursor, completion, choice);
    onChange(next.query);
    setCursor(next.cursor);
    setActive(-1);
    // put the caret after the insertion once React has rendered the new value
    requestAnimationFrame(() => { input.current?.setSelectionRange(next.cursor, next.cursor); });
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (!shown) {
      if (event.key === "ArrowDown" && options.length) { setOpen(true); setActive(0); event.preventDefault(); }
      return;
    }
    if (event.key === "ArrowDown") {
      setActive((active + 1) % options.length);
      event.preventDefault();
    } else if (event.key === "ArrowUp") {
      setActive(active <= 0 ? options.length - 1 : active - 1);
      event.preventDefault();
    } else if (event.key === "Enter" && active >= 0) {
      const choice = options[active];
      if (choice !== undefined) choose(choice);
      event.preventDefault();
    } else if (event.key === "Escape") {
      setOpen(false);
      setActive(-1);
      event.preventDefault();
    }
  };
  return (
    <div className="field combo">
      <label htmlFor={`${id}-input`}>PromQL</label>
      <input
        id={`${id}-input`}
        ref={input}
        value={value}
        required
        spellCheck={false}
        autoComplete="off"
        placeholder='rate(http_requests_total{job="api"}[5m])'
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={shown}
        aria-controls={`${id}-list`}
        aria-activedescendant={shown && active >= 0 ? `${id}-${String(active)}` : undefined}
        onChange={(e) => {
          onChange(e.target.value);
          setCursor(e.target.selectionStart ?? e.target.value.length);
          setOpen(true);
          setActive(-1);
        }}
        onKeyDown={onKeyDown}
        onKeyUp={(e) => { if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") track(); }}
        onClick={track}
        onBlur={() => { setOpen(false); }}
      />
      <ul id={`${id}-list`} role="listbox" aria-label="Suggestions" className="suggestions" hidden={!shown}>
        {shown
          ? options.map((o, i) => (
              <li
                key={o}
                id={`${id}-${String(i)}`}
                role="option"
                aria-selected={i === active}
                // mousedown, not click: the input's blur would close the list first
                onMouseDown={(e) => { e.preventDefault(); choose(o); }}
              >
                {o}
              </li>
            ))
          : null}
      </ul>
    </div>
  );
}
