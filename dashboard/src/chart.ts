// Time-series charts with uPlot (small, fast, canvas). Colours come from the CSS theme and the
// chart is drawn again when the theme changes or its box is resized.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { compact, num } from "./format";
import { h } from "./dom";

export interface Series { label: string; values: (number | null)[]; dashed?: boolean; color?: string; fill?: boolean }

const PALETTE = ["--accent", "--c2", "--c3", "--c4", "--c5", "--c6", "--c7", "--c8"];

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#6366f1";
}

export function colorOf(i: number): string { return css(PALETTE[i % PALETTE.length]); }

const live = new Set<() => void>();
export function redrawAll(): void { live.forEach((fn) => fn()); }

/** A line chart of buckets (ISO instants); returns a box that holds it and an accessible summary. */
export function lineChart(opts: { buckets: string[]; series: Series[]; hourly: boolean; height?: number; label: string;
  format?: (v: number) => string }): HTMLElement {
  const box = h("div", { className: "chart", role: "img", "aria-label": opts.label });
  const xs = opts.buckets.map((b) => new Date(b).getTime() / 1000);
  const fmt = opts.format ?? num;
  let plot: uPlot | null = null;
  const build = () => {
    plot?.destroy();
    const width = box.clientWidth || 600;
    const grid = css("--grid"), text = css("--muted");
    const series: uPlot.Series[] = [{ value: (_u, v) => v == null ? "–" : new Date(v * 1000).toLocaleString("en-GB",
      opts.hourly ? { hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" } : { day: "numeric", month: "short", year: "numeric" }) }];
    opts.series.forEach((s, i) => {
      const stroke = s.color ?? (s.dashed ? css("--muted") : colorOf(i));
      series.push({
        label: s.label, stroke, width: s.dashed ? 1.5 : 2, dash: s.dashed ? [5, 4] : undefined,
        fill: s.fill ? stroke + "22" : undefined, points: { show: xs.length < 40, size: 5 },
        value: (_u, v) => v == null ? "–" : fmt(v),
      });
    });
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "12px system-ui, sans-serif" };
    plot = new uPlot({
      width, height: opts.height ?? 240, series, padding: [12, 12, 0, 4],
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { show: true, live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axis, values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleString("en-GB",
          opts.hourly ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short" })) },
        { ...axis, size: 52, values: (_u, ticks) => ticks.map((t) => compact(t)) },
      ],
    }, [xs, ...opts.series.map((s) => s.values)] as uPlot.AlignedData, box);
  };
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    const w = box.clientWidth;
    if (w && Math.abs(w - lastWidth) > 4) { lastWidth = w; build(); }
  });
  const redraw = () => { if (box.isConnected) build(); else { live.delete(redraw); observer.disconnect(); plot?.destroy(); } };
  live.add(redraw);
  requestAnimationFrame(() => { if (box.isConnected) { lastWidth = box.clientWidth; build(); observer.observe(box); } });
  return box;
}
