// Paths: what persons do after a start event (or before an end event), most common first.

import { query } from "../api";
import { h, replace } from "../dom";
import { num } from "../format";
import { resolve, timezone } from "../ranges";
import { card, csvButton, errorBox, field, loading, pageHeader, select } from "../ui";
import { eventList, saveForm } from "./builder";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

export function pathBody(project: string, p: URLSearchParams, range: ReturnType<typeof resolve>): Record<string, unknown> {
  const mode = p.get("mode") === "end" ? "end_event" : "start_event";
  return { project_id: project, kind: "path", time_range: range.time_range, timezone, [mode]: p.get("event") || "$pageview",
    depth: Number(p.get("depth") ?? 5), limit: Number(p.get("limit") ?? 20) };
}

export function renderPaths(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const r = resolve(rangeOf(params));
  const ctrl = new AbortController();
  const mode = select("mode", [["start", "Starting at"], ["end", "Ending at"]], params.get("mode") ?? "start");
  const event = h("input", { name: "event", value: params.get("event") ?? "$pageview", list: "path-events", required: true });
  const depth = h("input", { name: "depth", type: "number", min: 2, max: 10, value: params.get("depth") ?? "5" });
  const limit = h("input", { name: "limit", type: "number", min: 1, max: 100, value: params.get("limit") ?? "20" });
  const form = h("form", { className: "builder", "aria-label": "Paths", on: { submit: (e: Event) => {
    e.preventDefault();
    saveForm({ mode: mode.value, event: event.value.trim(), depth: depth.value, limit: limit.value });
  } } }, field("Paths", mode), field("Event", event), eventList(project, "path-events"), field("Steps", depth), field("Show", limit),
  h("div", { className: "builder-go" }, h("button", { type: "submit", className: "btn primary" }, "Run")));
  const out = h("div", null, loading());
  replace(main, pageHeader("Paths", "The most common sequences of pages and events", [rangeTools(params)]),
    card("Build", form, undefined, "builder-card"), out);
  const body = pathBody(project, params, r);
  query(body, ctrl.signal).then((answer) => {
    const rows = answer.rows;
    if (!rows.length) { replace(out, card("Paths", h("p", { className: "empty" }, "No path in this range."))); return; }
    const max = Math.max(1, ...rows.map((x) => Number(x.count)));
    const csvRows = rows.map((x) => ({ path: x.path.join(" → "), count: x.count }));
    replace(out, card("Paths", h("ol", { className: "paths" }, rows.map((x) => h("li", { className: "path-row" },
      h("span", { className: "path-steps" }, x.path.map((s: string, i: number) => [i ? h("span", { className: "arrow", "aria-label": "then" }, "→") : null,
        h("span", { className: "path-step" }, s)])),
      h("span", { className: "path-track", "aria-hidden": "true" },
        h("span", { className: "path-fill", style: { width: `${Math.max(2, Number(x.count) / max * 100)}%` } })),
      h("span", { className: "path-count num" }, num(x.count))))),
    [csvButton(`${project}-paths`, ["path", "count"], () => csvRows)]));
  }).catch((err) => { if (!ctrl.signal.aborted) replace(out, errorBox(err)); });
  return () => ctrl.abort();
}
