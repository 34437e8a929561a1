// The date ranges of the range picker, as query time ranges in the browser's time zone.

export type RangeKey = "today" | "7d" | "30d" | "month" | "custom";
export const RANGES: [RangeKey, string][] = [
  ["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["month", "This month"], ["custom", "Custom"],
];

export const timezone = (() => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
})();

function pad(n: number): string { return String(n).padStart(2, "0"); }

/** A local midnight as RFC 3339 with the local offset (the query reads it as that instant). */
export function localMidnight(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T00:00:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export function day(d: Date): string { return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`; }

function addDays(d: Date, n: number): Date {
  const x = new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
  return x;
}

export interface Range { key: RangeKey; from?: string; to?: string }

/** time_range and bucket of a range; `to` is exclusive (the next local midnight). */
export function resolve(range: Range, now = new Date()): { time_range: { from: string; to: string }; bucket: "1h" | "1d"; label: string } {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const tomorrow = addDays(today, 1);
  switch (range.key) {
    case "today":
      return { time_range: { from: localMidnight(today), to: localMidnight(tomorrow) }, bucket: "1h", label: "Today" };
    case "7d":
      return { time_range: { from: localMidnight(addDays(today, -6)), to: localMidnight(tomorrow) }, bucket: "1d", label: "Last 7 days" };
    case "month":
      return { time_range: { from: localMidnight(new Date(today.getFullYear(), today.getMonth(), 1)), to: localMidnight(tomorrow) },
        bucket: "1d", label: "This month" };
    case "custom": {
      const from = parseDay(range.from) ?? addDays(today, -29);
      let to = parseDay(range.to) ?? today;
      if (to < from) to = from;
      const span = (to.getTime() - from.getTime()) / 86400000;
      return { time_range: { from: localMidnight(from), to: localMidnight(addDays(to, 1)) }, bucket: span < 1 ? "1h" : "1d",
        label: `${day(from)} – ${day(to)}` };
    }
    case "30d":
    default:
      return { time_range: { from: localMidnight(addDays(today, -29)), to: localMidnight(tomorrow) }, bucket: "1d", label: "Last 30 days" };
  }
}

export function parseDay(s: string | undefined): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s ?? "");
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}
