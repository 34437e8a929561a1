// The pages' filters: conditions kept in the URL (`f`, a JSON list), one query filter built from
// them (joined with `all`). A condition names a web dimension, an event property (`prop:<name>`)
// or the event name (`event`), an operator and a value. `[dim, value]` is the short form of
// "dim is value" (what a click on a row adds).

export type Op = "is" | "is_not" | "contains" | "exists";
export interface Cond { field: string; op: Op | "raw"; value: string }

export const DIMENSION_LABELS: Record<string, string> = {
  page: "Page", entry_page: "Entry page", exit_page: "Exit page", hostname: "Hostname", referrer: "Referrer",
  source: "Source", utm_source: "UTM source", utm_medium: "UTM medium", utm_campaign: "UTM campaign",
  browser: "Browser", os: "OS", device: "Device", country: "Country", language: "Language",
};

export const OPS: [Op, string][] = [["is", "is"], ["is_not", "is not"], ["contains", "contains"], ["exists", "exists"]];
/** The event name takes only these (the engine's `event` condition). */
export const EVENT_OPS: [Op, string][] = [["is", "is"], ["is_not", "is not"]];
const ENGINE_OP: Record<Op, string> = { is: "eq", is_not: "neq", contains: "contains", exists: "exists" };
const OF_ENGINE: Record<string, Op> = { eq: "is", neq: "is_not", contains: "contains", exists: "exists" };

export function fieldLabel(field: string): string {
  if (field === "event") return "Event";
  if (field === "raw") return "Segment filter";
  if (field.startsWith("prop:")) return `Property ${field.slice(5)}`;
  return DIMENSION_LABELS[field] ?? field;
}

export function opLabel(op: Cond["op"]): string {
  return OPS.find(([o]) => o === op)?.[1] ?? "";
}

export function describe(c: Cond): string {
  if (c.op === "raw") return fieldLabel("raw");
  return `${fieldLabel(c.field)} ${opLabel(c.op)}${c.op === "exists" ? "" : " " + c.value}`;
}

function validField(field: string): boolean {
  return field in DIMENSION_LABELS || field === "event" || (field.startsWith("prop:") && field.length > 5) || field === "raw";
}

export function parseConds(raw: string | null): Cond[] {
  if (!raw) return [];
  try {
    const value = JSON.parse(raw);
    if (!Array.isArray(value)) return [];
    const out: Cond[] = [];
    for (const p of value) {
      if (!Array.isArray(p) || !p.every((x) => typeof x === "string")) continue;
      if (p.length === 2 && p[0] in DIMENSION_LABELS) out.push({ field: p[0], op: "is", value: p[1] });
      else if (p.length === 3 && validField(p[0]) && (OPS.some(([o]) => o === p[1]) || (p[1] === "raw" && p[0] === "raw"))) {
        out.push({ field: p[0], op: p[1] as Cond["op"], value: p[2] });
      }
    }
    return out;
  } catch { return []; }
}

export function encodeConds(conds: Cond[]): string | undefined {
  if (!conds.length) return undefined;
  return JSON.stringify(conds.map((c) => (c.op === "is" && c.field in DIMENSION_LABELS ? [c.field, c.value] : [c.field, c.op, c.value])));
}

function condition(c: Cond): Record<string, unknown> {
  if (c.op === "raw") return JSON.parse(c.value);
  const test = c.op === "exists" ? { exists: true } : { [ENGINE_OP[c.op]]: c.value };
  if (c.field === "event") return { event: test };
  const name = c.field.startsWith("prop:") ? c.field.slice(5) : c.field;
  return { prop: { [name]: test } };
}

/** `{"prop": {dim: {"eq": value}}}`, several joined with `all`; undefined without filters. */
export function toFilter(conds: Cond[]): Record<string, unknown> | undefined {
  const conditions = conds.map(condition);
  if (!conditions.length) return undefined;
  return conditions.length === 1 ? conditions[0] : { all: conditions };
}

/** The conditions of a saved filter: those this page builds become chips, anything else one chip. */
export function fromFilter(filter: Record<string, unknown>): Cond[] {
  const parts = Array.isArray((filter as any).all) ? (filter as any).all as unknown[] : [filter];
  const out: Cond[] = [];
  for (const part of parts) {
    const one = readOne(part);
    if (!one) return [{ field: "raw", op: "raw", value: JSON.stringify(filter) }];
    out.push(one);
  }
  return out;
}

function readOne(part: any): Cond | null {
  if (!part || typeof part !== "object" || Object.keys(part).length !== 1) return null;
  const test = (t: any): [Op, string] | null => {
    if (!t || typeof t !== "object" || Object.keys(t).length !== 1) return null;
    const [op, v] = Object.entries(t)[0];
    if (op === "exists" && v === true) return ["exists", ""];
    return OF_ENGINE[op] && op !== "exists" && typeof v === "string" ? [OF_ENGINE[op], v] : null;
  };
  if (part.event) {
    const t = test(part.event);
    return t && (t[0] === "is" || t[0] === "is_not") ? { field: "event", op: t[0], value: t[1] } : null;
  }
  if (part.prop && typeof part.prop === "object" && Object.keys(part.prop).length === 1) {
    const [name, raw] = Object.entries(part.prop)[0];
    const t = test(raw);
    if (!t) return null;
    return { field: name in DIMENSION_LABELS ? name : `prop:${name}`, op: t[0], value: t[1] };
  }
  return null;
}

/** A click on a row: "dim is value", replacing an "is" on the same dimension. */
export function withIs(conds: Cond[], field: string, value: string): Cond[] {
  return [...conds.filter((c) => !(c.field === field && c.op === "is")), { field, op: "is", value }];
}
