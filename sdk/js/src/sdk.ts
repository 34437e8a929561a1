// The ES module served at /analytics/v1/sdk.js: createClient({url, key, token, analytics}).
// Tracking runs on the same core as the script tag (core.ts); query and erase call the HTTP API
// with the JWT given as `token`.

import { createTracker, Tracker } from "./core";

/** Event properties, traits and error metadata: any JSON object. */
export type Props = Record<string, unknown>;

export interface AnalyticsOptions {
  /** false: nothing is tracked (query and erase still work). Default true. */
  enabled?: boolean;
  /** `$pageview` on load and on every History API navigation, `$pageleave` with the visible time. */
  autoPageview?: boolean;
  /** With a `token`, identify the person as the token's `sub` (once per browser). */
  autoIdentify?: boolean;
  /** `error` and `unhandledrejection` become `$error` events. */
  autoErrors?: boolean;
  /** Hash routes (`/#/settings`) count as paths. */
  hash?: boolean;
  /** No browser storage at all and no anonymous id: the service derives the visitor. */
  cookieless?: boolean;
  /** Paths whose page views are not sent: globs, `*` within a segment, `**` across segments. */
  exclude?: string[];
}

export interface ClientOptions {
  /** The service's base URL, e.g. `https://analytics.example.com`. */
  url: string;
  /** The project's public key (`rapk_…`): needed to track. */
  key?: string;
  /** A JWT: needed by `query` and `erase`. */
  token?: string;
  analytics?: AnalyticsOptions;
}

/** A query body as documented for POST /analytics/v1/query; camelCase top-level names
 * (`projectId`, `timeRange`, `groupBy`, `timeBucket`, `conversionWindow`, …) are accepted too. */
export interface QueryBody {
  kind: string;
  projectId?: string;
  project_id?: string;
  [field: string]: unknown;
}

export interface QueryAnswer {
  kind: string;
  rows: Record<string, unknown>[];
  meta?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface EraseRequest {
  projectId?: string;
  project_id?: string;
  userId?: string;
  user_id?: string;
  anonymousId?: string;
  anonymous_id?: string;
}

export interface EraseAnswer {
  events: number;
  identity_links: number;
  traits: number;
  [field: string]: unknown;
}

export interface Analytics {
  track(event: string, properties?: Props): void;
  identify(userId: string, traits?: Props): void;
  alias(userId: string): void;
  /** A new anonymous id and a new session; forgets the user. */
  reset(): void;
  /** Stop sending (remembered in this browser). */
  optOut(): void;
  optIn(): void;
  /** Send what is queued now. */
  flush(): Promise<void>;
  /** The current page as a `$pageview` (when autoPageview is off). */
  page(): void;
  captureException(error: unknown, meta?: Props): void;
  query(body: QueryBody): Promise<QueryAnswer>;
  erase(request: EraseRequest): Promise<EraseAnswer>;
}

export interface Client {
  analytics: Analytics;
}

/** An error answer of the service: `{"error": {"code", "message"}}` and its HTTP status. */
export class ReactorError extends Error {
  status: number;
  code: string;
  body: unknown;
  constructor(status: number, code: string, message: string, body?: unknown) {
    super(message);
    this.name = "ReactorError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

function snakeKeys(body: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) out[snake(k)] = v;
  return out;
}

/** The `sub` claim of a JWT (read, not verified: the service verifies). */
function subject(token: string): string | undefined {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(part)).sub;
    return typeof sub == "string" && sub ? sub : undefined;
  } catch {
    return undefined;
  }
}

export function createClient(options: ClientOptions): Client {
  const base = String(options.url || "").replace(/\/+$/, "");
  const a = options.analytics || {};
  const tracker: Tracker = createTracker({
    api: base,
    key: a.enabled === false ? "" : options.key || "",
    pageviews: !!a.autoPageview,
    errors: !!a.autoErrors,
    hash: a.hash,
    cookieless: a.cookieless,
    exclude: a.exclude,
    lib: "reactor-sdk",
  });
  if (a.autoIdentify && options.token) {
    const sub = subject(options.token);
    if (sub) tracker.identify(sub);
  }

  async function call<T>(path: string, body: object): Promise<T> {
    if (!options.token) throw new ReactorError(401, "analytics.auth.unauthenticated", "createClient needs a token (a JWT) for this call");
    const sent = snakeKeys(body);
    const headers: Record<string, string> = {
      Authorization: "Bearer " + options.token,
      "Content-Type": "application/json",
    };
    if (typeof sent.project_id == "string") headers["X-Reactor-Project"] = sent.project_id;
    const answer = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(sent), credentials: "omit" });
    let json: any;
    try {
      json = await answer.json();
    } catch {
      json = undefined;
    }
    if (!answer.ok) {
      const error = (json && json.error) || {};
      throw new ReactorError(answer.status, error.code || "analytics.http_error", error.message || answer.statusText, json);
    }
    return json.data as T;
  }

  const t = tracker;
  return {
    analytics: {
      track: t.track,
      identify: t.identify,
      alias: t.alias,
      reset: t.reset,
      optOut: t.optOut,
      optIn: t.optIn,
      flush: t.flush,
      page: t.page,
      captureException: t.captureException,
      query: (body) => call<QueryAnswer>("/analytics/v1/query", body),
      erase: (request) => call<EraseAnswer>("/analytics/v1/erase", request),
    },
  };
}
