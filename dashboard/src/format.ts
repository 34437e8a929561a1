// How numbers read on screen. Test hooks (data-metric) carry the raw number; these are for the rest.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const compactFmt = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export function num(v: unknown): string {
  if (v == null || v === "") return "–";
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return Number.isInteger(n) ? integer.format(n) : decimal.format(n);
}

export function compact(v: number): string {
  return Math.abs(v) < 10000 ? num(v) : compactFmt.format(v);
}

export function duration(seconds: unknown): string {
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "–";
  if (s < 60) return `${decimal.format(s)}s`;
  const m = Math.floor(s / 60), rest = Math.round(s % 60);
  if (m < 60) return `${m}m ${rest}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function pct(v: unknown): string {
  const n = Number(v);
  return Number.isFinite(n) ? `${decimal.format(n)}%` : "–";
}

/** The change from `before` to `now` in percent, or null when there is nothing to compare with. */
export function change(now: number, before: number | undefined): number | null {
  if (before == null || !Number.isFinite(before)) return null;
  if (before === 0) return now === 0 ? 0 : null;
  return Math.round(((now - before) / before) * 1000) / 10;
}

export function date(iso: string | undefined, withTime = true): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-GB", withTime
    ? { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : { year: "numeric", month: "short", day: "numeric" });
}

export function ago(iso: string | undefined): string {
  if (!iso) return "–";
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 90) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
