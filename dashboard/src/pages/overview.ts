// All projects at a glance: one `summary` query per project over the chosen range.

import { query } from "../api";
import { h, replace } from "../dom";
import { num } from "../format";
import { resolve, timezone } from "../ranges";
import { href } from "../route";
import { app } from "../state";
import { card, csvButton, dataTable, errorBox, loading, pageHeader } from "../ui";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

export function renderOverview(main: HTMLElement, ctx: PageContext): () => void {
  const range = rangeOf(ctx.params);
  const r = resolve(range);
  const ctrl = new AbortController();
  const body = h("div", null, loading());
  const actions: Node[] = [];
  const cardEl = card("Projects", body, actions);
  replace(main, pageHeader("All projects", `${app.projects.length} project${app.projects.length === 1 ? "" : "s"} · ${r.label}`,
    [rangeTools(ctx.params)]), cardEl);
  if (!app.projects.length) { replace(body, h("p", { className: "empty" }, "No projects yet.")); return () => ctrl.abort(); }
  Promise.all(app.projects.map((p) => query({ project_id: p.id, kind: "summary", time_range: r.time_range, timezone }, ctrl.signal)
    .then((a) => ({ project: p, row: a.rows[0] ?? {} }), (err) => ({ project: p, row: null as any, err }))))
    .then((results) => {
      const rows = results.map(({ project, row, err }: any) => ({
        project: project.slug, name: project.name, total_events: row?.total_events ?? null, dau: row?.dau ?? null,
        wau: row?.wau ?? null, mau: row?.mau ?? null,
        top_event: row?.top_events?.[0]?.key ?? (err ? "error" : "–"),
        top_events: (row?.top_events ?? []).map((e: any) => `${e.key} (${e.value})`).join("; "),
        top: row?.top_events ?? [],
      }));
      const link = (v: string, row: any) => h("a", { href: href("web", { project: row.project, range: ctx.params.get("range") ?? undefined }),
        "data-project": row.project }, v);
      replace(body, dataTable({
        columns: [
          { key: "name", label: "Project", format: link },
          { key: "total_events", label: "Events", numeric: true, format: num },
          { key: "dau", label: "DAU", numeric: true, format: num },
          { key: "wau", label: "WAU", numeric: true, format: num },
          { key: "mau", label: "MAU", numeric: true, format: num },
          { key: "top_events", label: "Top events", format: (_v, row) => h("span", { className: "top-events" },
            row.top.slice(0, 3).map((e: any) => h("span", { className: "pill", title: `${e.value} events` }, e.key))) },
        ],
        rows, caption: "Summary per project", filename: "projects-summary", barKey: "total_events",
      }));
      cardEl.querySelector(".card-head")!.append(h("div", { className: "card-actions" },
        csvButton("projects-summary", ["project", "name", "total_events", "dau", "wau", "mau", "top_events"], () => rows)));
    })
    .catch((err) => { if (!ctrl.signal.aborted) replace(body, errorBox(err)); });
  return () => ctrl.abort();
}
