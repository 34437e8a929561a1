// What every page shares: the session, the projects the principal may see, the chosen project.

import { call, Principal } from "./api";

export interface Project { id: string; slug: string; name: string; org_id: string; retention_days: number;
  auto_register_sources: boolean; created_at: string }

export const app = {
  principal: null as Principal | null,
  projects: [] as Project[],
  /** false when the principal may not list projects (a JWT without analytics:project:create). */
  canList: true,
  /** The share token when the page is a shared read-only link (/share/<token>). */
  share: null as string | null,
};

export async function loadProjects(): Promise<Project[]> {
  try {
    // The projects the session may query or manage (the picker's list).
    const answer = await call<{ data: Project[] }>("GET", "/dashboard/api/projects");
    app.projects = answer.data;
    app.canList = true;
  } catch (err: any) {
    if (err?.status === 403 || err?.status === 404) { app.projects = []; app.canList = false; } else throw err;
  }
  return app.projects;
}

const LAST = "reactor_dashboard_project";

/** The project of the route, else the last one used, else the first. */
export function chosenProject(params: URLSearchParams): string {
  if (app.principal?.kind === "share") return app.principal.project_id ?? "";
  const fromUrl = params.get("project");
  if (fromUrl) return fromUrl;
  const last = localStorage.getItem(LAST);
  if (last && (!app.canList || app.projects.some((p) => p.id === last || p.slug === last))) return last;
  return app.projects[0]?.slug ?? "";
}

export function rememberProject(project: string): void {
  if (project) localStorage.setItem(LAST, project);
}

export function projectName(ref: string): string {
  const p = app.projects.find((x) => x.id === ref || x.slug === ref);
  return p ? p.name : ref;
}
