// The web overview: tiles with the change against the previous period, the time series, and the
// panels (pages, sources, devices, locations); a click on a row filters the whole page.

import { query, QueryAnswer } from "../api";
import { lineChart, loadCharts } from "../chart";
import { h, replace, announce } from "../dom";
import { DIMENSION_LABELS, encodeConds, parseConds, toFilter, withIs } from "../filters";
import { filterBar } from "../filterbar";
import { change, duration, num, pct } from "../format";
import { resolve, RANGES, Range, RangeKey, timezone, day } from "../ranges";
import { update } from "../route";
import { app, projectName } from "../state";
import { csvButton, dataTable, errorBox, loading, pageHeader, tabbedCard, card } from "../ui";
import type { PageContext } from "../main";

export const TILE_METRICS: { key: string; label: string; unit?: string; inverse?: boolean; human?: (v: number) => string }[] = [
  { key: "visitors", label: "Unique visitors" },
  { key: "visits", label: "Visits" },
  { key: "pageviews", label: "Pageviews" },
  { key: "views_per_visit", label: "Views per visit" },
  { key: "bounce_rate", label: "Bounce rate", unit: "%", inverse: true },
  { key: "visit_duration", label: "Visit duration", unit: "s", human: duration },
];

const PANELS: { title: string; tabs: [string, string][]; metrics: string[]; second: [string, string] }[] = [
  { title: "Pages", tabs: [["page", "Top pages"], ["entry_page", "Entry pages"], ["exit_page", "Exit pages"]],
    metrics: ["visitors", "pageviews"], second: ["pageviews", "Pageviews"] },
  { title: "Sources", tabs: [["source", "Sources"], ["referrer", "Referrers"], ["utm_source", "UTM source"],
    ["utm_medium", "Medium"], ["utm_campaign", "Campaign"]], metrics: ["visitors", "bounce_rate"], second: ["bounce_rate", "Bounce"] },
  { title: "Devices", tabs: [["browser", "Browsers"], ["os", "OS"], ["device", "Devices"]],
    metrics: ["visitors", "visits"], second: ["visits", "Visits"] },
  { title: "Locations", tabs: [["country", "Countries"], ["language", "Languages"]],
    metrics: ["visitors", "visits"], second: ["visits", "Visits"] },
];

export function rangeOf(params: URLSearchParams): Range {
  const key = (params.get("range") ?? "30d") as RangeKey;
  return { key: RANGES.some(([k]) => k === key) ? key : "30d", from: params.get("from") ?? undefined, to: params.get("to") ?? undefined };
}

export function rangeTools(params: URLSearchParams): HTMLElement {
  const range = rangeOf(params);
  const seg = h("div", { className: "segmented", role: "group", "aria-label": "Date range" },
    RANGES.map(([key, label]) => h("button", {
      type: "button", className: "seg", "data-range": key, "aria-pressed": String(range.key === key),
      on: { click: () => {
        if (key === "custom") {
          const r = resolve(range);
          update({ range: "custom", from: params.get("from") ?? r.time_range.from.slice(0, 10),
            to: params.get("to") ?? day(new Date(new Date(r.time_range.to).getTime() - 86400000)) });
        } else update({ range: key, from: undefined, to: undefined });
      } },
    }, key === "custom" ? "Custom" : key === "today" ? "Today" : key === "month" ? "Month" : key)));
  const wrap = h("div", { className: "range-tools" }, seg);
  if (range.key === "custom") {
    const r = resolve(range);
    const from = h("input", { type: "date", name: "from", value: r.time_range.from.slice(0, 10), "aria-label": "From" });
    const to = h("input", { type: "date", name: "to", value: range.to ?? "", "aria-label": "To (inclusive)" });
    wrap.append(h("form", { className: "custom-range", on: { submit: (e: Event) => {
      e.preventDefault(); update({ range: "custom", from: from.value, to: to.value });
    } } }, from, h("span", { "aria-hidden": "true" }, "–"), to, h("button", { type: "submit", className: "btn small" }, "Apply")));
  }
  return wrap;
}

function deltaChip(metric: typeof TILE_METRICS[number], now: number, before: number | undefined): HTMLElement {
  const c = change(now, before);
  if (c == null) return h("span", { className: "delta none", "data-change": "" }, "—");
  const good = metric.inverse ? c < 0 : c > 0;
  const cls = c === 0 ? "flat" : good ? "up" : "down";
  const arrow = c > 0 ? "↑" : c < 0 ? "↓" : "→";
  return h("span", { className: `delta ${cls}`, "data-change": String(c), title: `Previous period: ${num(before)}` },
    h("span", { "aria-hidden": "true" }, arrow), ` ${Math.abs(c)}%`,
    h("span", { className: "sr-only" }, c > 0 ? " more than the previous period" : c < 0 ? " less than the previous period" : " unchanged"));
}

export function renderWeb(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const range = rangeOf(params);
  const r = resolve(range);
  const conds = parseConds(params.get("f"));
  const filter = toFilter(conds);
  const base: Record<string, unknown> = { project_id: project, kind: "web", time_range: r.time_range, timezone, ...(filter ? { filter } : {}) };
  const ctrl = new AbortController();
  const readOnly = app.principal?.kind === "share";
  let chartMetric = params.get("metric") ?? "visitors";
  if (!TILE_METRICS.some((m) => m.key === chartMetric)) chartMetric = "visitors";

  const realtime = h("div", { className: "realtime", "data-realtime": "" }, h("span", { className: "pulse", "aria-hidden": "true" }),
    h("span", { className: "rt-count", "data-realtime-visitors": "" }, "–"), " current visitors");
  const tiles = h("div", { className: "tiles", "data-tiles": "" });
  const chartBody = h("div", { className: "chart-body" }, loading());

  let panelsDone = 0;
  const addFilter = (dim: string, key: string) => {
    const next = withIs(conds, dim, key);
    announce(`Filtered by ${DIMENSION_LABELS[dim]} ${key}`);
    update({ f: encodeConds(next) });
  };
  const chips = filterBar({ project, conds, range: { time_range: r.time_range, timezone }, segments: !readOnly,
    onChange: (next) => update({ f: encodeConds(next) }) });

  const panels = h("div", { className: "panels" });
  replace(main,
    pageHeader("Web overview", h("span", { "data-project-name": project }, projectName(project)), [realtime, rangeTools(params)]),
    chips,
    h("section", { className: "card overview", "aria-label": "Totals and trend" },
      tiles, chartBody),
    panels);
  // The tiles' query leaves first, then the chart's, then the panels' (see the end).
  const fillPanels = () => panels.append(...PANELS.map((panel) => tabbedCard(panel.title, panel.tabs.map(([id, label]) => ({ id, label })),
      panel.tabs[0][0], (dim, body, setActions) => {
        const request = { ...base, dimension: dim, metrics: panel.metrics, limit: 10 };
        query(request, ctrl.signal).then((answer) => {
          const rows = answer.rows;
          const columns = [
            { key: "key", label: DIMENSION_LABELS[dim] },
            { key: "visitors", label: "Visitors", numeric: true, format: num },
            { key: panel.second[0], label: panel.second[1], numeric: true, format: panel.second[0] === "bounce_rate" ? pct : num },
          ];
          replace(body, dataTable({
            columns, rows, caption: `${panel.title}: ${DIMENSION_LABELS[dim]}`, filename: `${project}-${dim}`, barKey: "visitors",
            onRow: (row) => addFilter(dim, String(row.key)),
            canClick: (row) => row.key !== "(none)",
            rowLabel: (row) => `Filter by ${DIMENSION_LABELS[dim]} ${row.key}`,
          }));
          setActions([csvButton(`${project}-${dim}`, ["key", ...panel.metrics], () => rows)]);
          if (++panelsDone === PANELS.length) performance.mark("reactor:panels-ready");
        }).catch((err) => { if (!ctrl.signal.aborted) replace(body, errorBox(err)); });
      }, `panel panel-${panel.title.toLowerCase()}`)));

  // Tiles first: they are what a person reads first.
  const metrics = TILE_METRICS.map((m) => m.key);
  const drawTiles = (answer: QueryAnswer | null, err?: unknown) => {
    if (err) { replace(tiles, errorBox(err)); return; }
    const row = answer?.rows[0] ?? {};
    const before = answer?.comparison?.[0] ?? {};
    replace(tiles, TILE_METRICS.map((m) => {
      const v = row[m.key];
      const selected = m.key === chartMetric;
      return h("button", {
        type: "button", className: "tile" + (selected ? " selected" : ""), "aria-pressed": String(selected),
        "aria-label": undefined, "data-tile": m.key,
        on: { click: () => { chartMetric = m.key; drawTiles(answer); drawChart(); } },
      },
        h("span", { className: "tile-label" }, m.label),
        h("span", { className: "tile-value" },
          answer ? h("span", { "data-metric": m.key }, String(v ?? 0)) : h("span", { className: "skeleton" }, "\u00a0"),
          answer && m.unit ? h("span", { className: "unit" }, m.unit) : null),
        answer ? h("span", { className: "tile-foot" }, deltaChip(m, Number(v ?? 0), before[m.key] == null ? undefined : Number(before[m.key])),
          m.human ? h("span", { className: "human" }, m.human(Number(v ?? 0))) : null) : h("span", { className: "tile-foot" }, "\u00a0"));
    }));
    if (answer) tiles.dataset.ready = "true";
  };
  drawTiles(null);
  // The tiles' query goes alone: the rest waits for its answer, so that it is not queued behind them.
  const tilesDone = query({ ...base, metrics, compare: "previous_period" }, ctrl.signal)
    .then((a) => { drawTiles(a); performance.mark("reactor:tiles-ready"); })
    .catch((e) => { if (!ctrl.signal.aborted) drawTiles(null, e); });

  let series: QueryAnswer | null = null;
  const drawChart = () => {
    if (!series) return;
    const m = TILE_METRICS.find((x) => x.key === chartMetric)!;
    const buckets = series.rows.map((x) => x.bucket);
    const rows = series.rows;
    const table = () => rows.map((x, i) => ({ bucket: x.bucket, [m.key]: x[m.key], previous: series!.comparison?.[i]?.[m.key] }));
    replace(chartBody,
      h("div", { className: "chart-head" },
        h("h2", { className: "chart-title" }, m.label, h("span", { className: "sub" }, ` · ${r.label}`, r.bucket === "1h" ? " · by hour" : " · by day")),
        csvButton(`${project}-timeseries`, ["bucket", ...metrics], () => rows)),
      lineChart({
        buckets, hourly: r.bucket === "1h", label: `${m.label} per ${r.bucket === "1h" ? "hour" : "day"}, ${r.label}`,
        format: m.key === "bounce_rate" ? pct : m.key === "visit_duration" ? duration : num,
        series: [
          { label: m.label, values: rows.map((x) => x[m.key] ?? 0), fill: true },
          ...(series.comparison ? [{ label: "Previous period", values: series.comparison.map((x) => x[m.key] ?? 0), dashed: true }] : []),
        ],
      }),
      h("details", { className: "chart-table" }, h("summary", null, "Show as table"),
        dataTable({ columns: [{ key: "bucket", label: r.bucket === "1h" ? "Hour" : "Day", format: (v) => new Date(v).toLocaleString("en-GB") },
          { key: m.key, label: m.label, numeric: true, format: num }, { key: "previous", label: "Previous period", numeric: true, format: num }],
        rows: table(), caption: `${m.label} over time`, filename: `${project}-timeseries` })));
  };
  const rest = () => {
    if (ctrl.signal.aborted) return;
    void loadCharts();
    query({ ...base, metrics, time_bucket: r.bucket, compare: "previous_period" }, ctrl.signal)
      .then((a) => { series = a; drawChart(); performance.mark("reactor:chart-ready"); })
      .catch((e) => { if (!ctrl.signal.aborted) replace(chartBody, errorBox(e)); });
    fillPanels();
    poll();
  };

  // Realtime visitors, every 30 seconds while the page is open.
  const count = realtime.querySelector(".rt-count")!;
  const poll = () => query({ project_id: project, kind: "realtime" }, ctrl.signal).then((a) => {
    const row = a.rows[0] ?? {};
    count.textContent = String(row.visitors ?? 0);
    realtime.title = (row.pages ?? []).map((p: any) => `${p.key}: ${p.visitors}`).join("\n") || "No one in the last 5 minutes";
  }).catch(() => { /* shown as – */ });
  void tilesDone.then(rest);
  const timer = window.setInterval(poll, 30000);
  return () => { ctrl.abort(); clearInterval(timer); };
}

export { card };
