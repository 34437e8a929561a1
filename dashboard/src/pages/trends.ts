// Trends: the aggregate builder (event, measure incl. DAU/WAU/MAU, bucket, breakdown by a property).

import { query } from "../api";
import { lineChart } from "../chart";
import { h, replace } from "../dom";
import { num } from "../format";
import { resolve, timezone } from "../ranges";
import { card, csvButton, dataTable, errorBox, field, loading, pageHeader, select } from "../ui";
import { eventList, groupLabel, saveForm } from "./builder";
import { encodeConds, parseConds, toFilter } from "../filters";
import { filterBar } from "../filterbar";
import { update } from "../route";
import { app } from "../state";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

const MEASURES: [string, string][] = [["count", "Total events"], ["unique_users", "Unique persons"], ["dau", "Daily active (DAU)"],
  ["wau", "Weekly active (WAU)"], ["mau", "Monthly active (MAU)"], ["sum", "Sum of a property"], ["avg", "Average of a property"]];
const BUCKETS: [string, string][] = [["1h", "Hour"], ["1d", "Day"], ["1w", "Week"], ["1mo", "Month"]];

export function trendsBody(project: string, p: URLSearchParams, range: ReturnType<typeof resolve>): Record<string, unknown> {
  const measureKey = p.get("measure") ?? "count";
  const active = ["dau", "wau", "mau"].includes(measureKey);
  const measure = measureKey === "sum" || measureKey === "avg" ? { [measureKey]: p.get("mprop") || "value" } : measureKey;
  const body: Record<string, unknown> = { project_id: project, kind: "aggregate", time_range: range.time_range, timezone, measure,
    time_bucket: active ? "1d" : p.get("bucket") ?? range.bucket };
  const event = p.get("event");
  const extra = toFilter(parseConds(p.get("f")));
  const parts = [...(event ? [{ event: { eq: event } }] : []), ...(extra ? ((extra as any).all ?? [extra]) : [])];
  if (parts.length) body.filter = parts.length === 1 ? parts[0] : { all: parts };
  const by = p.get("by");
  if (by) body.group_by = [{ prop: by }];
  return body;
}

export function renderTrends(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const r = resolve(rangeOf(params));
  const ctrl = new AbortController();
  const measureKey = params.get("measure") ?? "count";
  const event = h("input", { name: "event", value: params.get("event") ?? "", placeholder: "All events", list: "trend-events" });
  const measure = select("measure", MEASURES, measureKey);
  const mprop = h("input", { name: "mprop", value: params.get("mprop") ?? "", placeholder: "e.g. amount" });
  const bucket = select("bucket", BUCKETS, params.get("bucket") ?? r.bucket);
  const by = h("input", { name: "group_by", value: params.get("by") ?? "", placeholder: "e.g. plan, browser, country" });
  const mpropField = field("Property", mprop);
  const sync = () => {
    const active = ["dau", "wau", "mau"].includes(measure.value);
    bucket.disabled = active;
    if (active) bucket.value = "1d";
    mpropField.hidden = !(measure.value === "sum" || measure.value === "avg");
  };
  measure.addEventListener("change", sync);
  sync();
  const form = h("form", { className: "builder", "aria-label": "Trend", on: { submit: (e: Event) => {
    e.preventDefault();
    saveForm({ event: event.value.trim() || undefined, measure: measure.value, mprop: mprop.value.trim() || undefined,
      bucket: bucket.value, by: by.value.trim() || undefined });
  } } },
    field("Event", event), eventList(project, "trend-events"), field("Measure", measure), mpropField,
    field("Interval", bucket, ["dau", "wau", "mau"].includes(measure.value) ? "Active persons are counted per day." : undefined),
    field("Break down by property", by),
    h("div", { className: "builder-go" }, h("button", { type: "submit", className: "btn primary" }, "Run")));
  const out = h("div", null, loading());
  const bar = filterBar({ project, conds: parseConds(params.get("f")), range: { time_range: r.time_range, timezone },
    segments: app.principal?.kind !== "share", onChange: (next) => update({ f: encodeConds(next) }) });
  replace(main, pageHeader("Trends", "Events and active persons over time", [rangeTools(params)]),
    card("Build", form, undefined, "builder-card"), bar, out);

  const body = trendsBody(project, params, r);
  query(body, ctrl.signal).then((answer) => {
    const rows = answer.rows;
    const buckets = [...new Set(rows.map((x) => x.bucket))];
    const groups = new Map<string, Map<string, number>>();
    const totals = new Map<string, number>();
    for (const row of rows) {
      const g = groupLabel(row.group) || (params.get("event") || "All events");
      if (!groups.has(g)) groups.set(g, new Map());
      groups.get(g)!.set(row.bucket, Number(row.value ?? 0));
      totals.set(g, (totals.get(g) ?? 0) + Number(row.value ?? 0));
    }
    const top = [...groups.keys()].sort((a, b) => (totals.get(b)! - totals.get(a)!)).slice(0, 8);
    const label = MEASURES.find(([k]) => k === measureKey)?.[1] ?? measureKey;
    const tableRows = rows.map((x) => ({ bucket: x.bucket, group: groupLabel(x.group), value: x.value }));
    const title = `${label}${params.get("event") ? ` of ${params.get("event")}` : ""}${params.get("by") ? ` by ${params.get("by")}` : ""}`;
    replace(out, card(title, [
      lineChart({ buckets, hourly: body.time_bucket === "1h", label: `${label} over time`,
        series: top.map((g) => ({ label: g, values: buckets.map((b) => groups.get(g)!.get(b) ?? 0), fill: top.length === 1 })) }),
      h("details", { className: "chart-table", open: false }, h("summary", null, "Show as table"),
        dataTable({ columns: [{ key: "bucket", label: "Bucket", format: (v) => new Date(v).toLocaleString("en-GB") },
          ...(params.get("by") ? [{ key: "group", label: params.get("by")! }] : []),
          { key: "value", label, numeric: true, format: num }], rows: tableRows, caption: label, filename: `${project}-trend` })),
    ], [csvButton(`${project}-trend`, params.get("by") ? ["bucket", "group", "value"] : ["bucket", "value"], () => tableRows)]));
  }).catch((err) => { if (!ctrl.signal.aborted) replace(out, errorBox(err)); });
  return () => ctrl.abort();
}
