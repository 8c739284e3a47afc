import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PromInput } from "./PromInput";

const urls: string[] = [];

function Harness() {
  const [q, setQ] = useState("");
  return <PromInput base="/p/prj_1/prometheus/api/v1" apiKey="tgp_x" value={q} onChange={setQ} />;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  urls.length = 0;
});

describe("PromInput", () => {
  it("suggests label names then values, chosen with the arrow keys and Enter", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn((url: string) => {
        urls.push(url);
        const data = url.includes("/labels") ? ["tenant", "job", "instance"] : url.includes("/label/job/") ? ["api", "worker"] : [];
        return Promise.resolve(new Response(JSON.stringify({ status: "success", data }), { status: 200 }));
      }),
    );
    render(<Harness />);
    const input = screen.getByRole<HTMLInputElement>("combobox", { name: "PromQL" });
    fireEvent.change(input, { target: { value: "up{", selectionStart: 3 } });
    expect(await screen.findByRole("option", { name: "job" })).toBeTruthy();
    expect(screen.queryByRole("option", { name: "tenant" })).toBeNull(); // pinned by the gateway
    expect(urls).toContain("/p/prj_1/prometheus/api/v1/labels?match%5B%5D=up");
    fireEvent.keyDown(input, { key: "ArrowDown" });
    expect(screen.getByRole("option", { name: "job" }).getAttribute("aria-selected")).toBe("true");
    fireEvent.keyDown(input, { key: "Enter" });
    expect(input.value).toBe('up{job="');
    expect(await screen.findByRole("option", { name: "worker" })).toBeTruthy();
    fireEvent.keyDown(input, { key: "ArrowDown" });
    fireEvent.keyDown(input, { key: "ArrowDown" });
    fireEvent.keyDown(input, { key: "Enter" });
    expect(input.value).toBe('up{job="worker"');
    fireEvent.keyDown(input, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
  });
});
