// Settings: the project (retention, sources auto-registration), new projects, keys, sources,
// pixels and shared read-only links — the service's admin routes, with the session's permissions.

import { call } from "../api";
import { h, replace, announce } from "../dom";
import { date } from "../format";
import { go } from "../route";
import { app, loadProjects, rememberProject } from "../state";
import { card, csvButton, dataTable, errorBox, field, loading, pageHeader } from "../ui";
import type { PageContext } from "../main";

const enc = encodeURIComponent;

function section(title: string, load: (body: HTMLElement, actions: HTMLElement) => Promise<void>, id: string): HTMLElement {
  const body = h("div", null, loading());
  const actions = h("div", { className: "card-actions" });
  const el = card(title, body, [actions], `admin-${id}`);
  el.id = `admin-${id}`;
  const run = () => load(body, actions).catch((err) => replace(body, errorBox(err)));
  (el as any).reload = run;
  run();
  return el;
}

function secret(label: string, value: string, note: string): HTMLElement {
  const input = h("input", { readOnly: true, value, className: "mono", "aria-label": label, "data-secret": "" });
  return h("div", { className: "callout", role: "status" }, h("strong", null, label), h("div", { className: "copy-row" }, input,
    h("button", { type: "button", className: "btn small", on: { click: () => {
      input.select(); void navigator.clipboard?.writeText(value).catch(() => {}); announce("Copied");
    } } }, "Copy")), h("small", null, note));
}

function inlineForm(label: string, inputs: HTMLElement[], submitLabel: string, onSubmit: () => Promise<void>): HTMLFormElement {
  const err = h("div");
  const form = h("form", { className: "inline-form", "aria-label": label, on: { submit: async (e: Event) => {
    e.preventDefault();
    replace(err);
    try { await onSubmit(); } catch (x) { replace(err, errorBox(x)); }
  } } }, inputs, h("button", { type: "submit", className: "btn primary small" }, submitLabel), err);
  return form;
}

export function renderAdmin(main: HTMLElement, ctx: PageContext): () => void {
  const { project } = ctx;
  const p = app.projects.find((x) => x.slug === project || x.id === project);
  const pid = enc(p?.id ?? project);
  const parts: HTMLElement[] = [];

  if (p) {
    parts.push(section("Project", async (body) => {
      const retention = h("input", { type: "number", name: "retention_days", min: 1, value: String(p.retention_days) });
      const auto = h("input", { type: "checkbox", name: "auto_register_sources", checked: p.auto_register_sources });
      const msg = h("span", { className: "muted small", role: "status" });
      const save = async (changes: Record<string, unknown>) => {
        try {
          const a = await call<{ data: typeof p }>("PATCH", `/analytics/v1/projects/${pid}`, changes);
          Object.assign(p, a.data);
          msg.textContent = "Saved.";
        } catch (e) { msg.textContent = ""; body.append(errorBox(e)); }
      };
      auto.addEventListener("change", () => save({ auto_register_sources: auto.checked }));
      replace(body, h("dl", { className: "facts" },
        h("dt", null, "Name"), h("dd", null, p.name), h("dt", null, "Slug"), h("dd", null, h("code", null, p.slug)),
        h("dt", null, "Id"), h("dd", null, h("code", null, p.id)), h("dt", null, "Created"), h("dd", null, date(p.created_at))),
      h("form", { className: "inline-form", on: { submit: (e: Event) => { e.preventDefault(); void save({ retention_days: Number(retention.value) }); } } },
        field("Keep events for (days)", retention), h("button", { type: "submit", className: "btn small" }, "Save")),
      h("label", { className: "check" }, auto, " Register new page hostnames as sources automatically"), msg);
    }, "project"));
  }

  if (app.canList) {
    parts.push(section("New project", async (body) => {
      const slug = h("input", { name: "slug", required: true, pattern: "[a-z0-9][a-z0-9-]*", placeholder: "web-prod" });
      const name = h("input", { name: "name", placeholder: "Production web" });
      replace(body, inlineForm("New project", [field("Slug", slug), field("Name", name)], "Create", async () => {
        const a = await call<{ data: { slug: string } }>("POST", "/analytics/v1/projects", { slug: slug.value.trim(), name: name.value.trim() || undefined });
        await loadProjects();
        rememberProject(a.data.slug);
        go("admin", { project: a.data.slug });
      }));
    }, "new-project"));
  }

  if (p) {
    parts.push(section("Project keys", async (body, actions) => {
      const a = await call<{ data: any[] }>("GET", `/analytics/v1/projects/${pid}/keys`);
      const shown = h("div");
      const name = h("input", { name: "key_name", required: true, placeholder: "browser" });
      const rows = a.data;
      replace(actions, csvButton(`${p.slug}-keys`, ["id", "name", "prefix", "created_at", "revoked_at"], () => rows));
      replace(body, shown, dataTable({ columns: [
        { key: "name", label: "Name" }, { key: "prefix", label: "Key", format: (v) => h("code", null, `${v}…`) },
        { key: "created_at", label: "Created", format: (v) => date(v) },
        { key: "revoked_at", label: "", format: (v, row) => v ? h("span", { className: "muted" }, `revoked ${date(v, false)}`) :
          h("button", { type: "button", className: "btn ghost small danger", "data-revoke-key": row.id, on: { click: async () => {
            if (!confirm(`Revoke key ${row.name}? Senders using it will be refused.`)) return;
            await call("DELETE", `/analytics/v1/projects/${pid}/keys/${enc(row.id)}`);
            (body.closest("section") as any).reload();
          } } }, "Revoke") }],
      rows, caption: "Keys", filename: `${p.slug}-keys`, empty: "No keys yet." }),
      inlineForm("New key", [field("New key name", name)], "Create key", async () => {
        const k = await call<{ data: { key: string } }>("POST", `/analytics/v1/projects/${pid}/keys`, { name: name.value.trim() });
        await (body.closest("section") as any).reload();
        body.prepend(secret("New key", k.data.key, "Shown once: copy it now. It goes in X-Reactor-Project-Key or the tracker's data-key."));
      }));
    }, "keys"));

    parts.push(section("Sources", async (body, actions) => {
      const a = await call<{ data: any[] }>("GET", `/analytics/v1/projects/${pid}/sources`);
      const host = h("input", { name: "hostname", required: true, placeholder: "shop.example.com" });
      const rows = a.data;
      replace(actions, csvButton(`${p.slug}-sources`, ["hostname", "created_at"], () => rows));
      replace(body, h("p", { className: "muted small" }, rows.length ? "Only pages on these hostnames are accepted." :
        "No sources: pages on any hostname are accepted."),
      dataTable({ columns: [{ key: "hostname", label: "Hostname" }, { key: "created_at", label: "Added", format: (v) => date(v) },
        { key: "x", label: "", format: (_v, row) => h("button", { type: "button", className: "btn ghost small danger", on: { click: async () => {
          await call("DELETE", `/analytics/v1/projects/${pid}/sources/${enc(row.hostname)}`);
          (body.closest("section") as any).reload();
        } } }, "Remove") }], rows, caption: "Sources", filename: `${p.slug}-sources`, empty: "" }),
      inlineForm("Add source", [field("Hostname", host)], "Add", async () => {
        await call("POST", `/analytics/v1/projects/${pid}/sources`, { hostname: host.value.trim() });
        await (body.closest("section") as any).reload();
      }));
    }, "sources"));

    parts.push(section("Tracking pixels", async (body, actions) => {
      const a = await call<{ data: any[] }>("GET", `/analytics/v1/projects/${pid}/pixels`);
      const name = h("input", { name: "pixel_name", required: true, placeholder: "newsletter-2026-01" });
      const rows = a.data;
      replace(actions, csvButton(`${p.slug}-pixels`, ["id", "name", "url", "created_at"], () => rows));
      replace(body, dataTable({ columns: [{ key: "name", label: "Name" },
        { key: "url", label: "Image", format: (v) => h("button", { type: "button", className: "btn ghost small", title: location.origin + v,
          on: { click: () => { void navigator.clipboard?.writeText(location.origin + v).catch(() => {}); announce("Copied"); } } }, "Copy URL") },
        { key: "created_at", label: "Created", format: (v) => date(v, false) },
        { key: "x", label: "", format: (_v, row) => h("button", { type: "button", className: "btn ghost small danger", on: { click: async () => {
          if (!confirm(`Delete pixel ${row.name}?`)) return;
          await call("DELETE", `/analytics/v1/projects/${pid}/pixels/${enc(row.id)}`);
          (body.closest("section") as any).reload();
        } } }, "Delete") }], rows, caption: "Pixels", filename: `${p.slug}-pixels`, empty: "No pixels yet." }),
      inlineForm("New pixel", [field("Pixel name", name)], "Create pixel", async () => {
        await call("POST", `/analytics/v1/projects/${pid}/pixels`, { name: name.value.trim() });
        await (body.closest("section") as any).reload();
      }));
    }, "pixels"));

    parts.push(section("Shared links", async (body, actions) => {
      const a = await call<{ data: any[] }>("GET", `/analytics/v1/projects/${pid}/shares`);
      const name = h("input", { name: "share_name", placeholder: "Public stats" });
      const password = h("input", { name: "share_password", type: "password", autocomplete: "new-password", placeholder: "Optional" });
      const rows = a.data;
      replace(actions, csvButton(`${p.slug}-shares`, ["id", "name", "has_password", "created_at"], () => rows));
      replace(body, h("p", { className: "muted small" }, "A shared link shows this project's web overview to anyone who has it, read-only."),
        dataTable({ columns: [{ key: "name", label: "Name", format: (v) => v || "–" },
          { key: "has_password", label: "Password", format: (v) => v ? "yes" : "no" },
          { key: "created_at", label: "Created", format: (v) => date(v) },
          { key: "x", label: "", format: (_v, row) => h("button", { type: "button", className: "btn ghost small danger", "data-revoke-share": row.id,
            on: { click: async () => {
              await call("DELETE", `/analytics/v1/projects/${pid}/shares/${enc(row.id)}`);
              (body.closest("section") as any).reload();
            } } }, "Revoke") }], rows, caption: "Shared links", filename: `${p.slug}-shares`, empty: "No shared links." }),
        inlineForm("New shared link", [field("Name", name), field("Password", password)], "Create link", async () => {
          const s = await call<{ data: { url: string } }>("POST", `/analytics/v1/projects/${pid}/shares`,
            { ...(name.value.trim() ? { name: name.value.trim() } : {}), ...(password.value ? { password: password.value } : {}) });
          await (body.closest("section") as any).reload();
          body.prepend(secret("Shared link", location.origin + s.data.url, "Shown once: anyone with this link sees the web overview."));
        }));
    }, "shares"));
  }

  replace(main, pageHeader("Settings", p ? p.name : "Projects"), h("div", { className: "admin-grid" }, parts));
  return () => {};
}
