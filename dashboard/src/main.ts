// The dashboard: boots from the session cookie (or a shared link), draws the shell, routes by hash.

import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { ApiError, onSessionExpired, sessions, Session, setSession } from "./api";
import { h, replace } from "./dom";
import { current, go, href } from "./route";
import { app, chosenProject, loadProjects, projectName, rememberProject } from "./state";
import { applyTheme, isDark, toggleTheme, watchSystemTheme } from "./theme";
import { errorBox } from "./ui";
import { icon } from "./icons";
import { renderSignIn } from "./pages/signin";
import { renderWeb } from "./pages/web";
import { renderOverview } from "./pages/overview";
import { renderTrends } from "./pages/trends";
import { renderFunnels } from "./pages/funnels";
import { renderRetention } from "./pages/retention";
import { renderPaths } from "./pages/paths";
import { renderErrors } from "./pages/errors";
import { renderAdmin } from "./pages/admin";

export interface PageContext { project: string; params: URLSearchParams }
type Page = (main: HTMLElement, ctx: PageContext) => (() => void) | void;

const PAGES: { id: string; label: string; render: Page; needsProject: boolean; share?: boolean }[] = [
  { id: "overview", label: "All projects", render: renderOverview, needsProject: false },
  { id: "web", label: "Web overview", render: renderWeb, needsProject: true, share: true },
  { id: "trends", label: "Trends", render: renderTrends, needsProject: true },
  { id: "funnels", label: "Funnels", render: renderFunnels, needsProject: true },
  { id: "retention", label: "Retention", render: renderRetention, needsProject: true },
  { id: "paths", label: "Paths", render: renderPaths, needsProject: true },
  { id: "errors", label: "Errors", render: renderErrors, needsProject: true },
  { id: "admin", label: "Settings", render: renderAdmin, needsProject: true },
];

const root = document.getElementById("app")!;
let cleanup: (() => void) | void;
let shell: { main: HTMLElement; nav: HTMLElement; picker: HTMLElement } | null = null;

function shareToken(): string | null {
  const m = /^\/share\/([^/]+)\/?$/.exec(location.pathname);
  return m ? decodeURIComponent(m[1]) : null;
}

function signedIn(session: Session): void {
  setSession(session);
  app.principal = session.principal;
  shell = null;
  start();
}

async function showSignIn(message?: string): Promise<void> {
  cleanup?.(); cleanup = undefined;
  shell = null;
  setSession(null);
  app.principal = null;
  if (location.hash && !location.hash.startsWith("#/signin")) history.replaceState(null, "", location.pathname + location.search);
  await renderSignIn(root, signedIn, message);
}

async function signOut(): Promise<void> {
  try { await sessions.signOut(); } catch { /* the session may be gone already */ }
  localStorage.removeItem("reactor_dashboard_project");
  history.replaceState(null, "", "/");
  await showSignIn("You are signed out.");
}

function themeButton(): HTMLButtonElement {
  const b = h("button", { type: "button", className: "btn ghost icon-btn", "data-theme-toggle": "",
    on: { click: () => { toggleTheme(); label(); } } });
  const label = () => {
    const dark = isDark();
    b.setAttribute("aria-label", dark ? "Switch to light mode" : "Switch to dark mode");
    b.title = b.getAttribute("aria-label")!;
    b.replaceChildren(icon(dark ? "sun" : "moon"));
  };
  label();
  return b;
}

function buildShell(): NonNullable<typeof shell> {
  const share = app.principal?.kind === "share";
  const nav = h("nav", { className: "nav", "aria-label": "Pages" });
  const picker = h("div", { className: "picker" });
  const main = h("main", { id: "main", className: "content", tabIndex: -1 });
  const menu = h("button", { type: "button", className: "btn ghost icon-btn menu-btn", "aria-label": "Menu", "aria-expanded": "false",
    "aria-controls": "sidebar", on: { click: () => {
      const open = document.body.classList.toggle("nav-open");
      menu.setAttribute("aria-expanded", String(open));
    } } }, icon("menu", 18));
  replace(root,
    h("a", { className: "skip", href: "#main", on: { click: (e: Event) => { e.preventDefault(); main.focus(); } } }, "Skip to content"),
    h("div", { className: "layout" },
      h("aside", { className: "sidebar", id: "sidebar" },
        h("div", { className: "brand" }, h("span", { className: "logo", "aria-hidden": "true" }), "Reactor"),
        nav,
        h("div", { className: "side-foot" },
          share ? h("p", { className: "muted small" }, "Shared read-only view") :
            h("p", { className: "muted small who", title: app.principal?.subject ?? "" },
              app.principal?.kind === "admin" ? "Admin" : app.principal?.subject ?? ""),
          h("div", { className: "side-actions" }, themeButton(),
            share ? null : h("button", { type: "button", className: "btn ghost small", "data-signout": "", on: { click: signOut } }, "Sign out")))),
      h("div", { className: "main-col" },
        h("header", { className: "topbar" }, menu, picker),
        main)));
  return { main, nav, picker };
}

function renderPicker(el: HTMLElement, project: string, page: string): void {
  if (app.principal?.kind === "share") {
    replace(el, h("span", { className: "share-badge" }, "Shared dashboard · read-only"));
    return;
  }
  if (!app.canList) {
    const input = h("input", { name: "project", value: project, placeholder: "project id or slug", "aria-label": "Project" });
    replace(el, h("form", { className: "project-form", on: { submit: (e: Event) => {
      e.preventDefault(); rememberProject(input.value.trim()); go(page === "overview" ? "web" : page, { project: input.value.trim() });
    } } }, input));
    return;
  }
  const sel = h("select", { name: "project", "aria-label": "Project", on: { change: () => {
    if (!sel.value) { go("overview", { range: current().params.get("range") ?? undefined }); return; }
    rememberProject(sel.value);
    const { params } = current();
    const keep: Record<string, string | undefined> = { project: sel.value, range: params.get("range") ?? undefined,
      from: params.get("from") ?? undefined, to: params.get("to") ?? undefined };
    go(page === "overview" ? "web" : page, keep);
  } } },
    h("option", { value: "", selected: page === "overview" }, "All projects"),
    app.projects.map((p) => h("option", { value: p.slug, selected: page !== "overview" && (p.slug === project || p.id === project) }, p.name)));
  replace(el, h("label", { className: "sr-only", htmlFor: "project-picker" }, "Project"), sel);
  sel.id = "project-picker";
}

function route(): void {
  if (!app.principal) return;
  const share = app.principal.kind === "share";
  const { page: wanted, params } = current();
  const page = PAGES.find((p) => p.id === wanted && (!share || p.share)) ?? PAGES.find((p) => p.id === "web")!;
  const project = chosenProject(params);
  if (!shell) shell = buildShell();
  cleanup?.(); cleanup = undefined;
  document.body.classList.remove("nav-open");
  if (project && page.needsProject) rememberProject(project);
  const navParams = (id: string) => ({ project: project || undefined, range: params.get("range") ?? undefined,
    from: params.get("from") ?? undefined, to: params.get("to") ?? undefined, ...(id === "web" ? { f: params.get("f") ?? undefined } : {}) });
  replace(shell.nav, h("ul", null, PAGES.filter((p) => !share || p.share).map((p) => h("li", null,
    h("a", { href: href(p.id, navParams(p.id)), className: "nav-link", "data-page": p.id,
      "aria-current": p.id === page.id ? "page" : undefined },
    h("span", { className: "nav-icon", "aria-hidden": "true" }, icon(p.id)), p.label)))));
  renderPicker(shell.picker, project, page.id);
  document.title = `${page.label} · Reactor Analytics`;
  shell.main.dataset.page = page.id;
  if (page.needsProject && !project) {
    replace(shell.main, h("div", { className: "empty-state" }, h("h1", null, "No project yet"),
      h("p", null, "Create a project in Settings to start collecting events."),
      app.principal.kind === "admin" ? h("a", { className: "btn primary", href: href("admin") }, "Create a project") : null));
    if (page.id === "admin") cleanup = page.render(shell.main, { project: "", params });
    return;
  }
  try {
    cleanup = page.render(shell.main, { project, params });
  } catch (err) {
    replace(shell.main, errorBox(err));
  }
}

async function start(): Promise<void> {
  if (app.principal?.kind !== "share") {
    const loading = loadProjects();
    // A project page named in the URL needs no list to start: it renders at once, the picker follows.
    const { page, params } = current();
    const early = params.get("project") && !["", "overview", "admin"].includes(page);
    if (early) route();
    try { await loading; } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      replace(root, errorBox(err));
      return;
    }
    if (early && shell) {
      const now = current();
      renderPicker(shell.picker, chosenProject(now.params), now.page);
      document.querySelectorAll<HTMLElement>("[data-project-name]").forEach((el) => { el.textContent = projectName(el.dataset.projectName!); });
      return;
    }
  }
  route();
}

async function boot(): Promise<void> {
  applyTheme();
  watchSystemTheme();
  onSessionExpired(() => { void showSignIn("Your session has ended. Sign in again."); });
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.body.classList.contains("nav-open")) {
      document.body.classList.remove("nav-open");
      (document.querySelector(".menu-btn") as HTMLElement | null)?.focus();
    }
  });
  const token = shareToken();
  app.share = token;
  if (token) { await bootShare(token); return; }
  try {
    const answer = await sessions.current();
    signedIn(answer.data);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) await showSignIn();
    else replace(root, h("main", { className: "signin" }, errorBox(err)));
  }
}

async function bootShare(token: string, password?: string, message?: string): Promise<void> {
  try {
    const answer = await sessions.share(token, password);
    onSessionExpired(() => { void bootShare(token, undefined, "This link's session has ended."); });
    signedIn(answer.data);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const input = h("input", { type: "password", name: "password", id: "share-password", required: true, autocomplete: "off" });
      replace(root, h("main", { className: "signin", id: "main" }, h("div", { className: "signin-card" },
        h("div", { className: "brand big" }, h("span", { className: "logo", "aria-hidden": "true" }), "Reactor Analytics"),
        h("h1", null, "This dashboard is protected"),
        h("form", { className: "signin-form", on: { submit: (e: Event) => { e.preventDefault(); void bootShare(token, input.value); } } },
          h("label", { htmlFor: "share-password" }, "Password"), input,
          password || message ? h("p", { className: "error-box", role: "alert" }, message ?? "Wrong password.") : null,
          h("button", { type: "submit", className: "btn primary wide" }, "View dashboard")))));
      input.focus();
    } else {
      replace(root, h("main", { className: "signin", id: "main" }, h("div", { className: "signin-card" },
        h("h1", null, "Link not found"), h("p", null, "This shared link does not exist or was revoked."))));
    }
  }
}

void boot();
