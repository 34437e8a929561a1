// Time-series charts with uPlot (small, fast, canvas). Colours come from the CSS theme and the
// chart is drawn again when the theme changes or its box is resized.

import type uPlot from "uplot";
import { compact, num } from "./format";
import { h } from "./dom";

export interface Series { label: string; values: (number | null)[]; dashed?: boolean; color?: string; fill?: boolean }

const PALETTE = ["--accent", "--c2", "--c3", "--c4", "--c5", "--c6", "--c7", "--c8"];

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#6366f1";
}

export function colorOf(i: number): string { return css(PALETTE[i % PALETTE.length]); }

// uPlot is a chunk of its own, fetched when the first chart is drawn: the tiles do not wait for it.
let lib: Promise<typeof uPlot> | null = null;
export function loadCharts(): Promise<typeof uPlot> {
  return lib ??= import("uplot").then((m) => m.default);
}

const live = new Set<() => void>();
export function redrawAll(): void { live.forEach((fn) => fn()); }

const DAY = 86400, HOUR = 3600;
const DAY_INCRS = [DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];
const HOUR_INCRS = [HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 12 * HOUR, ...DAY_INCRS];

/** A tooltip that follows the cursor: the bucket and each series' value. */
function tooltip(opts: { hourly: boolean; labels: string[]; format: (v: number) => string; colors: () => string[] }): uPlot.Plugin {
  let tip: HTMLDivElement;
  return {
    hooks: {
      init: (u) => {
        tip = h("div", { className: "u-tip", hidden: true });
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
      },
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i == null || u.cursor.left == null || u.cursor.left < 0) { tip.hidden = true; return; }
        const x = u.data[0][i];
        const colors = opts.colors();
        tip.replaceChildren(
          h("div", { className: "u-tip-head" }, new Date(x * 1000).toLocaleString("en-GB", opts.hourly
            ? { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
            : { weekday: "short", day: "numeric", month: "short", year: "numeric" })),
          ...opts.labels.map((label, k) => {
            const v = u.data[k + 1][i];
            return h("div", { className: "u-tip-row" }, h("span", { className: "u-tip-dot", style: { background: colors[k] } }),
              h("span", { className: "u-tip-label" }, label), h("strong", null, v == null ? "–" : opts.format(v as number)));
          }));
        tip.hidden = false;
        const left = u.cursor.left, w = tip.offsetWidth, max = u.over.clientWidth;
        tip.style.left = `${Math.min(Math.max(0, left - w / 2), max - w)}px`;
        tip.style.top = `${Math.max(0, (u.cursor.top ?? 0) - tip.offsetHeight - 14)}px`;
      },
    },
  };
}

/** A line chart of buckets (ISO instants); returns a box that holds it and an accessible summary. */
export function lineChart(opts: { buckets: string[]; series: Series[]; hourly: boolean; height?: number; label: string;
  format?: (v: number) => string }): HTMLElement {
  const box = h("div", { className: "chart", role: "img", "aria-label": opts.label });
  const legend = opts.series.length > 1 ? h("div", { className: "chart-legend", "aria-hidden": "true" }) : null;
  const holder = h("div", { className: "chart-canvas" });
  box.append(holder);
  if (legend) box.append(legend);
  const xs = opts.buckets.map((b) => new Date(b).getTime() / 1000);
  const fmt = opts.format ?? num;
  let plot: uPlot | null = null;
  const colors = () => opts.series.map((s, i) => s.color ?? (s.dashed ? css("--muted") : colorOf(i)));
  let U: typeof uPlot | null = null;
  const build = () => {
    if (!U) { void loadCharts().then((lib) => { U = lib; if (box.isConnected) build(); }); return; }
    plot?.destroy();
    const width = holder.clientWidth || 600;
    const grid = css("--grid"), text = css("--muted");
    const palette = colors();
    const series: uPlot.Series[] = [{}];
    opts.series.forEach((s, i) => {
      const stroke = palette[i];
      series.push({
        label: s.label, stroke, width: s.dashed ? 1.5 : 2, dash: s.dashed ? [5, 4] : undefined,
        fill: s.fill ? stroke + "1f" : undefined, points: { show: xs.length <= 31 && !s.dashed, size: 5, fill: css("--panel") },
      });
    });
    if (legend) {
      legend.replaceChildren(...opts.series.map((s, i) => h("span", { className: "chart-key" + (s.dashed ? " dashed" : "") },
        h("span", { className: "u-tip-dot", style: { background: palette[i] } }), s.label)));
    }
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { show: false }, font: "12px system-ui, sans-serif" };
    plot = new U({
      width, height: opts.height ?? 240, series, padding: [14, 28, 0, 0], legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 8 }, y: false },
      plugins: [tooltip({ hourly: opts.hourly, labels: opts.series.map((s) => s.label), format: fmt, colors })],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.12 : 1] } },
      axes: [
        { ...axis, grid: { show: false }, space: 60, size: 30, incrs: opts.hourly ? HOUR_INCRS : DAY_INCRS,
          values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleString("en-GB",
            opts.hourly ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short" })) },
        { ...axis, size: 48, space: 36, values: (_u, ticks) => ticks.map((t) => compact(t)) },
      ],
    }, [xs, ...opts.series.map((s) => s.values)] as uPlot.AlignedData, holder);
  };
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    const w = holder.clientWidth;
    if (w && Math.abs(w - lastWidth) > 4) { lastWidth = w; build(); }
  });
  const redraw = () => { if (box.isConnected) build(); else { live.delete(redraw); observer.disconnect(); plot?.destroy(); } };
  live.add(redraw);
  requestAnimationFrame(() => { if (box.isConnected) { lastWidth = holder.clientWidth; build(); observer.observe(holder); } });
  return box;
}
