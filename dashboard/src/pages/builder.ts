// Shared parts of the builders (trends, funnels, retention, paths): the event list for suggestions,
// and a query's form state kept in the URL so a reload or a shared URL shows the same answer.

import { query } from "../api";
import { h } from "../dom";
import { timezone } from "../ranges";
import { update } from "../route";

const cache = new Map<string, Promise<string[]>>();

/** Event names of the project (the summary's top events), for the inputs' datalist. */
export function eventNames(project: string): Promise<string[]> {
  if (!cache.has(project)) {
    cache.set(project, query({ project_id: project, kind: "summary", time_range: { last: "30d" }, timezone })
      .then((a) => (a.rows[0]?.top_events ?? []).map((e: any) => String(e.key)))
      .catch(() => []));
  }
  return cache.get(project)!;
}

export function eventList(project: string, id: string): HTMLDataListElement {
  const list = h("datalist", { id });
  eventNames(project).then((names) => list.append(...[...new Set(["$pageview", ...names])].map((n) => h("option", { value: n }))));
  return list;
}

export function saveForm(values: Record<string, string | undefined>): void {
  update(values);
}

export function groupLabel(group: unknown): string {
  if (group == null) return "";
  if (Array.isArray(group)) return group.map((g) => (g == null ? "(none)" : String(g))).join(" / ");
  if (typeof group === "object") return Object.values(group as object).map((g) => (g == null ? "(none)" : String(g))).join(" / ");
  return String(group);
}
