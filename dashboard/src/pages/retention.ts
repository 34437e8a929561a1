// Retention: cohorts by first event, the share that returned in each later period, as a heatmap.

import { query } from "../api";
import { h, replace } from "../dom";
import { date, num } from "../format";
import { resolve, timezone } from "../ranges";
import { card, csvButton, errorBox, field, loading, pageHeader, select } from "../ui";
import { eventList, saveForm } from "./builder";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

export function retentionBody(project: string, p: URLSearchParams, range: ReturnType<typeof resolve>): Record<string, unknown> {
  const body: Record<string, unknown> = { project_id: project, kind: "retention", time_range: range.time_range, timezone,
    cohort_event: p.get("cohort") || "$pageview", period: p.get("period") ?? "week", periods: Number(p.get("periods") ?? 6) };
  if (p.get("return")) body.return_event = p.get("return");
  return body;
}

export function renderRetention(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const r = resolve(rangeOf(params));
  const ctrl = new AbortController();
  const cohort = h("input", { name: "cohort_event", value: params.get("cohort") ?? "$pageview", list: "ret-events", required: true });
  const ret = h("input", { name: "return_event", value: params.get("return") ?? "", list: "ret-events", placeholder: "Same as cohort event" });
  const period = select("period", [["day", "Day"], ["week", "Week"]], params.get("period") ?? "week");
  const periods = h("input", { name: "periods", type: "number", min: 1, max: 90, value: params.get("periods") ?? "6" });
  const form = h("form", { className: "builder", "aria-label": "Retention", on: { submit: (e: Event) => {
    e.preventDefault();
    saveForm({ cohort: cohort.value.trim(), return: ret.value.trim() || undefined, period: period.value, periods: periods.value });
  } } }, field("Cohort: first", cohort), field("Came back with", ret), eventList(project, "ret-events"),
  field("Period", period), field("Periods", periods),
  h("div", { className: "builder-go" }, h("button", { type: "submit", className: "btn primary" }, "Run")));
  const out = h("div", null, loading());
  replace(main, pageHeader("Retention", "Who comes back, by cohort", [rangeTools(params)]), card("Build", form, undefined, "builder-card"), out);
  const body = retentionBody(project, params, r);
  query(body, ctrl.signal).then((answer) => {
    const rows = answer.rows;
    const n = Math.max(0, ...rows.map((x) => x.returned.length));
    const unit = body.period === "day" ? "Day" : "Week";
    const table = h("table", { className: "data heatmap" },
      h("caption", { className: "sr-only" }, "Retention by cohort, percent of the cohort that returned"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Cohort"), h("th", { scope: "col", className: "num" }, "Persons"),
        Array.from({ length: n }, (_, k) => h("th", { scope: "col", className: "num" }, `${unit} ${k}`)))),
      h("tbody", null, rows.map((x) => h("tr", null,
        h("th", { scope: "row" }, date(x.cohort, false)), h("td", { className: "num" }, num(x.size)),
        Array.from({ length: n }, (_, k) => {
          const v = x.returned[k];
          if (v == null) return h("td", { className: "hm empty-cell" }, "");
          const share = x.size ? v / x.size : 0;
          const incomplete = x.complete && x.complete[k] === false;
          if (incomplete && !v) return h("td", { className: "hm empty-cell", title: "Period not over" }, "");
          return h("td", { className: "hm num" + (incomplete ? " incomplete" : "") + (share > 0.45 ? " strong" : ""), "data-share": share.toFixed(4),
            style: { "--a": String(0.08 + share * 0.92) } as any,
            title: `${num(v)} of ${num(x.size)}${incomplete ? " (period not over)" : ""}` },
          h("span", null, `${Math.round(share * 1000) / 10}%`));
        })))));
    if (!rows.length) { replace(out, card("Cohorts", h("p", { className: "empty" }, "No cohort in this range."))); return; }
    const csvRows = rows.map((x) => Object.fromEntries([["cohort", x.cohort], ["size", x.size],
      ...Array.from({ length: n }, (_, k) => [`${unit.toLowerCase()}_${k}`, x.returned[k] ?? ""])]));
    replace(out, card("Cohorts", h("div", { className: "table-wrap" }, table),
      [csvButton(`${project}-retention`, ["cohort", "size", ...Array.from({ length: n }, (_, k) => `${unit.toLowerCase()}_${k}`)], () => csvRows)]));
  }).catch((err) => { if (!ctrl.signal.aborted) replace(out, errorBox(err)); });
  return () => ctrl.abort();
}
