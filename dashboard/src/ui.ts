// Shared pieces: cards, tabbed panels, data tables with CSV export and bars, empty/error states.

import { ApiError } from "./api";
import { download } from "./csv";
import { h, replace, uid } from "./dom";
import { icon } from "./icons";

export interface Column {
  key: string;
  label: string;
  format?: (v: any, row: any) => string | Node;
  numeric?: boolean;
}

export interface TableOptions {
  columns: Column[];
  rows: Record<string, any>[];
  filename: string;
  caption: string;
  /** A bar behind the first column, proportional to this key. */
  barKey?: string;
  onRow?: (row: Record<string, any>) => void;
  /** Rows the click does not apply to (e.g. a missing value). */
  canClick?: (row: Record<string, any>) => boolean;
  rowLabel?: (row: Record<string, any>) => string;
  empty?: string;
  csvRows?: Record<string, any>[];
  csvColumns?: string[];
}

export function csvButton(filename: string, columns: string[], rows: () => Record<string, any>[], label = "CSV"): HTMLButtonElement {
  return h("button", {
    type: "button", className: "btn ghost small", "data-csv": filename,
    "aria-label": `Download ${filename} as CSV`,
    on: { click: () => download(filename.endsWith(".csv") ? filename : `${filename}.csv`, columns, rows()) },
  }, icon("download", 14), label);
}

export function dataTable(o: TableOptions): HTMLElement {
  if (!o.rows.length) return h("p", { className: "empty" }, o.empty ?? "No data for this range.");
  const max = o.barKey ? Math.max(1, ...o.rows.map((r) => Number(r[o.barKey!]) || 0)) : 0;
  const table = h("table", { className: "data" + (o.onRow ? " clickable" : "") },
    h("caption", { className: "sr-only" }, o.caption),
    h("thead", null, h("tr", null, o.columns.map((c) => h("th", { scope: "col", className: c.numeric ? "num" : "" }, c.label)))),
    h("tbody", null, o.rows.map((row) => {
      const cells = o.columns.map((c, i) => {
        const v = row[c.key];
        const content = c.format ? c.format(v, row) : v == null ? "–" : String(v);
        if (i === 0) {
          const inner: (Node | string)[] = [];
          if (o.barKey) {
            const w = Math.max(0.5, (Number(row[o.barKey]) || 0) / max * 100);
            inner.push(h("span", { className: "bar", style: { width: `${w}%` }, "aria-hidden": "true" }));
          }
          if (o.onRow && (!o.canClick || o.canClick(row))) {
            inner.push(h("button", {
              type: "button", className: "rowlink",
              title: o.rowLabel ? o.rowLabel(row) : undefined,
              "aria-label": o.rowLabel ? o.rowLabel(row) : undefined,
              on: { click: () => o.onRow!(row) },
            }, content));
          } else {
            inner.push(h("span", { className: "label" }, content));
          }
          return h("th", { scope: "row", className: "first" }, inner);
        }
        return h("td", { className: c.numeric ? "num" : "" }, content);
      });
      return h("tr", null, cells);
    })));
  return h("div", { className: "table-wrap" }, table);
}

export function card(title: string | Node, body: Node | Node[], actions?: Node[], extraClass = ""): HTMLElement {
  const id = uid("card");
  return h("section", { className: `card ${extraClass}`.trim(), "aria-labelledby": id },
    h("header", { className: "card-head" },
      h("h2", { id }, title),
      actions && actions.length ? h("div", { className: "card-actions" }, actions) : null),
    h("div", { className: "card-body" }, body));
}

export interface Tab { id: string; label: string }

/** A card with tabs (role=tablist, arrow keys move between tabs); `load` fills the body. */
export function tabbedCard(title: string, tabs: Tab[], initial: string,
  load: (tab: string, body: HTMLElement, setActions: (a: Node[]) => void) => void, extraClass = ""): HTMLElement {
  const body = h("div", { className: "card-body", role: "tabpanel" });
  const actions = h("div", { className: "card-actions" });
  const buttons: HTMLButtonElement[] = [];
  const headingId = uid("card");
  let active = initial;
  const select = (id: string, focus = false) => {
    active = id;
    buttons.forEach((b) => {
      const on = b.dataset.tab === id;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      if (on) { body.setAttribute("aria-labelledby", b.id); if (focus) b.focus(); }
    });
    replace(body, loading());
    replace(actions);
    load(id, body, (a) => replace(actions, a));
  };
  const list = h("div", { className: "tabs", role: "tablist", "aria-label": title },
    tabs.map((t, i) => {
      const b = h("button", {
        type: "button", role: "tab", id: uid("tab"), className: "tab", "data-tab": t.id,
        on: {
          click: () => select(t.id),
          keydown: (e: KeyboardEvent) => {
            const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
            if (d) { e.preventDefault(); select(tabs[(i + d + tabs.length) % tabs.length].id, true); }
          },
        },
      }, t.label);
      buttons.push(b);
      return b;
    }));
  const section = h("section", { className: `card ${extraClass}`.trim(), "aria-labelledby": headingId },
    h("header", { className: "card-head" }, h("h2", { id: headingId }, title), actions),
    list, body);
  select(active);
  return section;
}

export function loading(): HTMLElement {
  return h("div", { className: "loading", role: "status" }, h("span", { className: "spinner", "aria-hidden": "true" }),
    h("span", { className: "sr-only" }, "Loading"));
}

export function errorBox(err: unknown): HTMLElement {
  const msg = err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
  return h("p", { className: "error-box", role: "alert" }, msg);
}

export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || uid("f");
  control.id = id;
  return h("div", { className: "field" }, h("label", { htmlFor: id }, label), control,
    hint ? h("small", { className: "hint" }, hint) : null);
}

export function select(name: string, options: [string, string][], value: string, on?: (v: string) => void): HTMLSelectElement {
  const s = h("select", { name, on: on ? { change: (e: Event) => on((e.target as HTMLSelectElement).value) } : undefined },
    options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
  s.value = value;
  return s;
}

export function pageHeader(title: string, subtitle?: string | Node, right?: Node[]): HTMLElement {
  return h("div", { className: "page-head" },
    h("div", null, h("h1", null, title), subtitle ? h("p", { className: "sub", "data-subtitle": "" }, subtitle) : null),
    right && right.length ? h("div", { className: "page-tools" }, right) : null);
}
