// Hash routes: #/page?project=…&range=…&f=… — nothing secret ever goes in the URL.

export interface Route { page: string; params: URLSearchParams }

export function current(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, query] = hash.split("?", 2);
  return { page: page || "", params: new URLSearchParams(query ?? "") };
}

export function href(page: string, params?: Record<string, string | undefined> | URLSearchParams): string {
  const p = params instanceof URLSearchParams ? new URLSearchParams(params) : new URLSearchParams();
  if (params && !(params instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(params)) if (v != null && v !== "") p.set(k, v);
  }
  const q = p.toString();
  return `#/${page}${q ? "?" + q : ""}`;
}

export function go(page: string, params?: Record<string, string | undefined> | URLSearchParams): void {
  const next = href(page, params);
  if (location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = next;
}

/** Change some parameters of the current route (e.g. the range) and keep the rest. */
export function update(changes: Record<string, string | undefined>): void {
  const { page, params } = current();
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === "") params.delete(k); else params.set(k, v);
  }
  go(page, params);
}
