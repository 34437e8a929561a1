// The filter bar of the web overview and trends: the filters as removable chips, an "Add filter"
// form (a web dimension, an event property or the event name; an operator; a value, with the
// dimension's values offered), and the project's saved segments.

import { call, query } from "./api";
import { h, replace, announce, uid } from "./dom";
import { Cond, DIMENSION_LABELS, EVENT_OPS, OPS, Op, describe, fieldLabel, fromFilter, opLabel, toFilter } from "./filters";
import { eventNames } from "./pages/builder";
import { errorBox } from "./ui";

export interface Segment { id: string; name: string; filter: Record<string, unknown> }

export interface FilterBarOptions {
  project: string;
  conds: Cond[];
  /** The range the value suggestions are read over (`time_range`, `timezone`). */
  range: Record<string, unknown>;
  onChange: (conds: Cond[]) => void;
  /** Segments need a signed-in person (not a shared link). */
  segments: boolean;
}

const segmentsUrl = (project: string) => `/analytics/v1/projects/${encodeURIComponent(project)}/segments`;

export function filterBar(o: FilterBarOptions): HTMLElement {
  const chips = h("div", { className: "chips", role: "list", "aria-label": "Filters" },
    o.conds.map((c, i) => h("span", { className: "chip", role: "listitem", "data-filter": c.field, "data-op": c.op },
      h("span", { className: "chip-dim" }, fieldLabel(c.field)),
      c.op === "raw" ? null : [` ${opLabel(c.op)} `, c.op === "exists" ? null : h("strong", null, c.value)],
      h("button", { type: "button", className: "chip-x", "aria-label": `Remove filter ${describe(c)}`,
        on: { click: () => o.onChange(o.conds.filter((_, j) => j !== i)) } }, "×"))));
  if (o.conds.length > 1) {
    chips.append(h("button", { type: "button", className: "btn ghost small", on: { click: () => o.onChange([]) } }, "Clear all"));
  }
  const bar = h("div", { className: "filter-bar", "data-filter-bar": "" }, chips, addFilter(o));
  if (o.segments) bar.append(segmentsMenu(o));
  return bar;
}

function addFilter(o: FilterBarOptions): HTMLElement {
  const formId = uid("add-filter");
  const toggle = h("button", { type: "button", className: "btn small", "aria-expanded": "false", "aria-controls": formId,
    "data-add-filter": "" }, "+ Add filter");
  const fieldSel = h("select", { name: "filter_field" },
    h("optgroup", { label: "Web" }, Object.entries(DIMENSION_LABELS).map(([k, l]) => h("option", { value: k }, l))),
    h("optgroup", { label: "Event" }, h("option", { value: "event" }, "Event name"),
      h("option", { value: "prop" }, "Event property…")));
  const propName = h("input", { name: "filter_prop", placeholder: "e.g. plan", autocomplete: "off" });
  const opSel = h("select", { name: "filter_op" });
  const listId = uid("filter-values");
  const values = h("datalist", { id: listId });
  const value = h("input", { name: "filter_value", list: listId, autocomplete: "off" });
  const propField = labelled("Property name", propName);
  const valueField = labelled("Value", value);
  const problem = h("p", { className: "form-problem", role: "alert" });
  let asked = 0;
  const offer = () => {
    const field = fieldSel.value;
    const mine = ++asked;
    replace(values);
    const fill = (keys: string[]) => { if (mine === asked) values.append(...keys.map((k) => h("option", { value: k }))); };
    if (field in DIMENSION_LABELS) {
      query({ project_id: o.project, kind: "web", ...o.range, dimension: field, metrics: ["visitors"], limit: 50 })
        .then((a) => fill(a.rows.map((r) => String(r.key)).filter((k) => k !== "(none)"))).catch(() => {});
    } else if (field === "event") {
      eventNames(o.project).then((names) => fill([...new Set(["$pageview", ...names])]));
    }
  };
  const sync = () => {
    const ops = fieldSel.value === "event" ? EVENT_OPS : OPS;
    const was = opSel.value as Op;
    replace(opSel, ops.map(([k, l]) => h("option", { value: k }, l)));
    opSel.value = ops.some(([k]) => k === was) ? was : "is";
    propField.hidden = fieldSel.value !== "prop";
    valueField.hidden = opSel.value === "exists";
  };
  fieldSel.addEventListener("change", () => { sync(); offer(); });
  opSel.addEventListener("change", sync);
  const close = () => { form.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.focus(); };
  const form = h("form", { id: formId, className: "add-filter", hidden: true, "aria-label": "Add a filter",
    on: {
      submit: (e: Event) => {
        e.preventDefault();
        const op = opSel.value as Op;
        const field = fieldSel.value === "prop" ? `prop:${propName.value.trim()}` : fieldSel.value;
        if (field === "prop:") { problem.textContent = "Name the property."; propName.focus(); return; }
        if (op !== "exists" && !value.value) { problem.textContent = "Enter a value."; value.focus(); return; }
        const cond: Cond = { field, op, value: op === "exists" ? "" : value.value };
        announce(`Filtered by ${describe(cond)}`);
        o.onChange([...o.conds, cond]);
      },
      keydown: (e: KeyboardEvent) => { if (e.key === "Escape") { e.preventDefault(); close(); } },
    } },
    labelled("Field", fieldSel), propField, labelled("Operator", opSel), valueField, values,
    h("div", { className: "add-filter-go" },
      h("button", { type: "submit", className: "btn primary small" }, "Apply filter"),
      h("button", { type: "button", className: "btn ghost small", on: { click: close } }, "Cancel")),
    problem);
  toggle.addEventListener("click", () => {
    const open = form.hidden;
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { sync(); offer(); fieldSel.focus(); }
  });
  return h("div", { className: "add-filter-wrap" }, toggle, form);
}

function labelled(label: string, control: HTMLElement): HTMLElement {
  const id = control.id || uid("ff");
  control.id = id;
  return h("div", { className: "field" }, h("label", { htmlFor: id }, label), control);
}

function segmentsMenu(o: FilterBarOptions): HTMLElement {
  const list = h("ul", { className: "segment-list", "aria-label": "Saved segments" });
  const problem = h("div", { className: "segment-problem" });
  const name = h("input", { name: "segment_name", placeholder: "e.g. Google visitors", maxLength: 200, autocomplete: "off" });
  const save = h("button", { type: "submit", className: "btn primary small", disabled: !o.conds.length }, "Save current filters");
  const load = () => call<{ data: Segment[] }>("GET", segmentsUrl(o.project)).then((answer) => {
    replace(problem);
    replace(list, answer.data.length ? answer.data.map((s) => h("li", { className: "segment", "data-segment": s.name },
      h("button", { type: "button", className: "segment-apply", "aria-label": `Apply segment ${s.name}`,
        on: { click: () => { announce(`Segment ${s.name} applied`); menu.open = false; o.onChange(fromFilter(s.filter)); } } }, s.name),
      h("button", { type: "button", className: "chip-x", "aria-label": `Delete segment ${s.name}`,
        on: { click: () => call("DELETE", `${segmentsUrl(o.project)}/${encodeURIComponent(s.id)}`)
          .then(() => { announce(`Segment ${s.name} deleted`); return load(); })
          .catch((err) => replace(problem, errorBox(err))) } }, "×")))
      : h("li", { className: "empty" }, "No saved segments yet."));
  }).catch((err) => replace(problem, errorBox(err)));
  const form = h("form", { className: "segment-save", "aria-label": "Save the filters as a segment", on: { submit: (e: Event) => {
    e.preventDefault();
    const filter = toFilter(o.conds);
    if (!filter || !name.value.trim()) { name.focus(); return; }
    call("POST", segmentsUrl(o.project), { name: name.value.trim(), filter })
      .then(() => { announce(`Segment ${name.value.trim()} saved`); name.value = ""; return load(); })
      .catch((err) => replace(problem, errorBox(err)));
  } } }, labelled("Segment name", name), save);
  const menu = h("details", { className: "segments-menu", "data-segments": "" },
    h("summary", { className: "btn small" }, "Segments"),
    h("div", { className: "segments-pop" }, list, o.conds.length ? form
      : h("p", { className: "hint" }, "Add filters to save them as a segment."), problem));
  let loaded = false;
  menu.addEventListener("toggle", () => { if (menu.open && !loaded) { loaded = true; void load(); } });
  menu.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.key === "Escape" && menu.open) { menu.open = false; (menu.querySelector("summary") as HTMLElement).focus(); }
  });
  return menu;
}
