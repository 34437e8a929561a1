// The only way the dashboard talks to the service: same-origin fetch with the session cookie, the
// CSRF token on every write, and a 401 that sends the person back to sign-in.

export interface Principal { kind: "admin" | "jwt" | "oidc" | "share"; subject?: string; org_id?: string; project_id?: string }
export interface Session { csrf_token: string; principal: Principal; expires_at?: string }

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

let csrf = "";
let onExpired: () => void = () => {};

export function setSession(session: Session | null): void { csrf = session?.csrf_token ?? ""; }
export function onSessionExpired(fn: () => void): void { onExpired = fn; }

export async function call<T = any>(method: string, path: string, body?: unknown,
  opts: { signal?: AbortSignal; quiet401?: boolean; headers?: Record<string, string> } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...(opts.headers ?? {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: "same-origin", signal: opts.signal,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  let json: any = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = json?.error ?? {};
    const error = new ApiError(res.status, err.code ?? `http.${res.status}`, err.message ?? res.statusText);
    if (res.status === 401 && !opts.quiet401) onExpired();
    throw error;
  }
  return json as T;
}

export interface QueryAnswer { kind: string; rows: any[]; comparison?: any[]; meta?: { took_ms: number; rows_scanned: number } }

export async function query(body: Record<string, unknown>, signal?: AbortSignal): Promise<QueryAnswer> {
  const answer = await call<{ data: QueryAnswer }>("POST", "/analytics/v1/query", body, { signal });
  return answer.data;
}

export const sessions = {
  config: () => call<{ data: { oidc: boolean } }>("GET", "/dashboard/api/config", undefined, { quiet401: true }),
  current: () => call<{ data: Session }>("GET", "/dashboard/api/session", undefined, { quiet401: true }),
  signIn: (token: string) => call<{ data: Session }>("POST", "/dashboard/api/session", { token }, { quiet401: true }),
  signOut: () => call("DELETE", "/dashboard/api/session"),
  share: (token: string, password?: string) => call<{ data: Session }>("POST",
    `/dashboard/api/share/${encodeURIComponent(token)}/session`, password ? { password } : {}, { quiet401: true }),
};
