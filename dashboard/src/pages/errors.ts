// Errors: groups of the range (the errors API), a sample stack (an `events` query), triage.

import { call, query } from "../api";
import { h, replace, announce } from "../dom";
import { ago, date, num } from "../format";
import { resolve, timezone } from "../ranges";
import { update } from "../route";
import { card, csvButton, errorBox, loading, pageHeader } from "../ui";
import { rangeOf, rangeTools } from "./web";
import type { PageContext } from "../main";

interface Group { fingerprint: string; type: string; message: string; count: number; users: number; first_seen: string;
  last_seen: string; state: "unresolved" | "resolved" | "ignored" }

const STATES: [string, string][] = [["unresolved", "Unresolved"], ["resolved", "Resolved"], ["ignored", "Ignored"], ["all", "All"]];

export function errorsPath(project: string, range: ReturnType<typeof resolve>): string {
  const q = new URLSearchParams({ project_id: project, from: range.time_range.from, to: range.time_range.to, limit: "500" });
  return `/analytics/v1/errors?${q}`;
}

export function renderErrors(main: HTMLElement, ctx: PageContext): () => void {
  const { project, params } = ctx;
  const r = resolve(rangeOf(params));
  const ctrl = new AbortController();
  const state = params.get("state") ?? "unresolved";
  const out = h("div", null, loading());
  const detail = h("div", { className: "error-detail" });
  const tabs = h("div", { className: "segmented", role: "group", "aria-label": "State" }, STATES.map(([k, l]) =>
    h("button", { type: "button", className: "seg", "aria-pressed": String(k === state), "data-state-filter": k,
      on: { click: () => update({ state: k === "unresolved" ? undefined : k, fp: undefined }) } }, l)));
  replace(main, pageHeader("Errors", "Grouped by fingerprint", [tabs, rangeTools(params)]), h("div", { className: "errors-layout" }, out, detail));
  let groups: Group[] = [];

  const triage = async (g: Group, next: Group["state"]) => {
    await call("PATCH", `/analytics/v1/errors/${encodeURIComponent(g.fingerprint)}`, { state: next, project_id: project });
    g.state = next;
    announce(`Marked ${next}`);
    draw();
    const open = params.get("fp");
    if (open === g.fingerprint) showDetail(g);
  };

  const triageButtons = (g: Group) => h("div", { className: "triage" },
    (g.state !== "resolved" ? h("button", { type: "button", className: "btn small", "data-triage": "resolved",
      on: { click: () => triage(g, "resolved").catch((e) => detail.prepend(errorBox(e))) } }, "Resolve") : null),
    (g.state !== "ignored" ? h("button", { type: "button", className: "btn ghost small", "data-triage": "ignored",
      on: { click: () => triage(g, "ignored").catch((e) => detail.prepend(errorBox(e))) } }, "Ignore") : null),
    (g.state !== "unresolved" ? h("button", { type: "button", className: "btn ghost small", "data-triage": "unresolved",
      on: { click: () => triage(g, "unresolved").catch((e) => detail.prepend(errorBox(e))) } }, "Reopen") : null));

  const showDetail = (g: Group) => {
    const stack = h("pre", { className: "stack", tabIndex: 0, "aria-label": "Stack trace" }, "Loading…");
    replace(detail, card(h("span", null, h("span", { className: "err-type" }, g.type), " ", g.message), [
      h("dl", { className: "facts" },
        h("dt", null, "Occurrences"), h("dd", null, num(g.count)), h("dt", null, "Persons"), h("dd", null, num(g.users)),
        h("dt", null, "First seen"), h("dd", null, date(g.first_seen)), h("dt", null, "Last seen"), h("dd", null, date(g.last_seen)),
        h("dt", null, "State"), h("dd", { "data-state": g.state }, g.state), h("dt", null, "Fingerprint"), h("dd", null, h("code", null, g.fingerprint))),
      triageButtons(g), h("h3", null, "Latest stack"), stack,
    ], [h("button", { type: "button", className: "btn ghost small", "aria-label": "Close", on: { click: () => update({ fp: undefined }) } }, "×")],
    "detail-card"));
    query({ project_id: project, kind: "events", time_range: r.time_range, timezone, limit: 1,
      filter: { all: [{ event: { eq: "$error" } }, { prop: { message: { eq: g.message } } }] } }, ctrl.signal)
      .then((a) => {
        const ev = a.rows[0];
        const p = ev?.properties ?? {};
        stack.textContent = p.stack || (ev ? `${p.type ?? g.type}: ${p.message ?? g.message}\n    (no stack sent)` : "No occurrence in this range.");
      }).catch((e) => { stack.textContent = String(e.message ?? e); });
  };

  const draw = () => {
    const shown = groups.filter((g) => state === "all" || g.state === state);
    const csvCols = ["fingerprint", "type", "message", "count", "users", "first_seen", "last_seen", "state"];
    const list = shown.length ? h("div", { className: "table-wrap" }, h("table", { className: "data errors-table" },
      h("caption", { className: "sr-only" }, "Error groups"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Error"), h("th", { scope: "col", className: "num" }, "Events"),
        h("th", { scope: "col", className: "num" }, "Persons"), h("th", { scope: "col" }, "Last seen"), h("th", { scope: "col" }, "State"))),
      h("tbody", null, shown.map((g) => h("tr", { "data-fingerprint": g.fingerprint, className: params.get("fp") === g.fingerprint ? "selected" : "" },
        h("th", { scope: "row", className: "first" }, h("button", { type: "button", className: "rowlink err",
          on: { click: () => update({ fp: g.fingerprint }) } }, h("span", { className: "err-type" }, g.type), h("span", { className: "err-msg" }, g.message))),
        h("td", { className: "num" }, num(g.count)), h("td", { className: "num" }, num(g.users)),
        h("td", { title: date(g.last_seen) }, ago(g.last_seen)),
        h("td", null, h("span", { className: `state state-${g.state}`, "data-state": g.state }, g.state))))))) :
      h("p", { className: "empty" }, state === "unresolved" ? "No unresolved errors in this range. 🎉" : "No errors here.");
    replace(out, card(`${shown.length} group${shown.length === 1 ? "" : "s"}`, list, [csvButton(`${project}-errors`, csvCols, () => shown)]));
  };

  call<{ data: Group[] }>("GET", errorsPath(project, r), undefined, { signal: ctrl.signal }).then((a) => {
    groups = a.data;
    draw();
    const fp = params.get("fp");
    const g = fp && groups.find((x) => x.fingerprint === fp);
    if (g) showDetail(g);
  }).catch((err) => { if (!ctrl.signal.aborted) replace(out, errorBox(err)); });
  void timezone;
  return () => ctrl.abort();
}
