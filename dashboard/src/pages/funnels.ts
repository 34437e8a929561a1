// Funnels: the steps builder, the conversion chart and the drop-off between steps.

import { query } from "../api";
import { h, replace } from "../dom";
import { num, pct } from "../format";
import { resolve, timezone } from "../ranges";
import { card, csvButton, dataTable, errorBox, field, loading, pageHeader, select } from "../ui";
import { eventList, saveForm } from "./builder";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

export function funnelBody(project: string, p: URLSearchParams, range: ReturnType<typeof resolve>): Record<string, unknown> | null {
  const steps = stepsOf(p).filter((s) => s);
  if (!steps.length) return null;
  return { project_id: project, kind: "funnel", time_range: range.time_range, timezone, steps: steps.map((event) => ({ event })),
    conversion_window: p.get("window") ?? "14d", order: p.get("order") ?? "sequential" };
}

function stepsOf(p: URLSearchParams): string[] {
  try {
    const v = JSON.parse(p.get("steps") ?? "null");
    if (Array.isArray(v)) return v.map(String);
  } catch { /* default */ }
  return [];
}

export function renderFunnels(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const r = resolve(rangeOf(params));
  const ctrl = new AbortController();
  let steps = stepsOf(params);
  if (!steps.length) steps = ["$pageview", ""];
  const list = h("ol", { className: "steps" });
  const drawSteps = () => {
    replace(list, steps.map((s, i) => {
      const input = h("input", { name: `step-${i + 1}`, value: s, list: "funnel-events", required: i === 0, placeholder: "Event name",
        "aria-label": `Step ${i + 1} event`, on: { input: (e: Event) => { steps[i] = (e.target as HTMLInputElement).value; } } });
      return h("li", { className: "step" }, h("span", { className: "step-n", "aria-hidden": "true" }, String(i + 1)), input,
        steps.length > 1 ? h("button", { type: "button", className: "btn ghost small", "aria-label": `Remove step ${i + 1}`,
          on: { click: () => { steps.splice(i, 1); drawSteps(); } } }, "×") : null);
    }));
  };
  drawSteps();
  const windowSel = select("window", [["1h", "1 hour"], ["1d", "1 day"], ["7d", "7 days"], ["14d", "14 days"], ["30d", "30 days"]],
    params.get("window") ?? "14d");
  const order = select("order", [["sequential", "In order (other events between allowed)"], ["strict", "Strict (nothing between)"]],
    params.get("order") ?? "sequential");
  const form = h("form", { className: "builder funnel-builder", "aria-label": "Funnel", on: { submit: (e: Event) => {
    e.preventDefault();
    const clean = steps.map((s) => s.trim()).filter(Boolean);
    saveForm({ steps: JSON.stringify(clean), window: windowSel.value, order: order.value });
  } } },
    h("fieldset", { className: "steps-field" }, h("legend", null, "Steps"), list, eventList(project, "funnel-events"),
      h("button", { type: "button", className: "btn ghost small", "data-add-step": "", on: { click: () => {
        if (steps.length < 20) { steps.push(""); drawSteps(); (list.lastElementChild?.querySelector("input") as HTMLInputElement)?.focus(); }
      } } }, "+ Add step")),
    h("div", { className: "builder-side" }, field("Conversion window", windowSel), field("Order", order),
      h("div", { className: "builder-go" }, h("button", { type: "submit", className: "btn primary" }, "Run funnel"))));
  const out = h("div", null);
  replace(main, pageHeader("Funnels", "How many persons go from step to step", [rangeTools(params)]),
    card("Build", form, undefined, "builder-card"), out);

  const body = funnelBody(project, params, r);
  if (!body) { replace(out, h("p", { className: "empty card" }, "Name the steps and run the funnel.")); return () => ctrl.abort(); }
  replace(out, loading());
  query(body, ctrl.signal).then((answer) => {
    const row = answer.rows[0];
    const st: any[] = row?.steps ?? [];
    const first = Number(st[0]?.count ?? 0);
    const rows = st.map((s, i) => {
      const prev = i ? Number(st[i - 1].count) : Number(s.count);
      const drop = i ? prev - Number(s.count) : 0;
      return { step: i + 1, event: s.event, count: s.count, conversion: Math.round(Number(s.conversion) * 10000) / 100,
        dropoff: drop, dropoff_rate: i && prev ? Math.round(drop / prev * 10000) / 100 : 0 };
    });
    const chart = h("div", { className: "funnel-chart", role: "img",
      "aria-label": rows.map((x) => `Step ${x.step} ${x.event}: ${x.count} (${x.conversion}%)`).join("; ") },
      rows.map((x) => h("div", { className: "funnel-col", "data-step": String(x.step) },
        h("div", { className: "funnel-bar-wrap" },
          h("div", { className: "funnel-bar", style: { height: `${first ? Math.max(1, Number(x.count) / first * 100) : 0}%` } },
            h("span", { className: "funnel-pct" }, pct(x.conversion)))),
        h("div", { className: "funnel-label" }, h("strong", null, x.event), h("span", null, `${num(x.count)} persons`),
          x.step > 1 ? h("span", { className: "drop" }, `↓ ${num(x.dropoff)} dropped (${pct(x.dropoff_rate)})`) : null))));
    const columns = ["step", "event", "count", "conversion", "dropoff", "dropoff_rate"];
    replace(out, card(`Conversion: ${first ? pct(rows[rows.length - 1].conversion) : "–"}`, [chart,
      dataTable({ columns: [{ key: "event", label: "Step", format: (v, row) => `${row.step}. ${v}` },
        { key: "count", label: "Persons", numeric: true, format: num }, { key: "conversion", label: "Conversion", numeric: true, format: pct },
        { key: "dropoff", label: "Dropped", numeric: true, format: num }, { key: "dropoff_rate", label: "Drop-off", numeric: true, format: pct }],
      rows, caption: "Funnel steps", filename: `${project}-funnel` })],
    [csvButton(`${project}-funnel`, columns, () => rows)], "funnel-card"));
  }).catch((err) => { if (!ctrl.signal.aborted) replace(out, errorBox(err)); });
  return () => ctrl.abort();
}
