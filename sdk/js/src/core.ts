// The one tracking core behind both builds: the script tag (tracker.ts) and the ES module (sdk.ts).
//
// Events are queued in memory and sent as one POST /analytics/v1/batch with a text/plain body
// (the project key in the body), so a browser sends no CORS preflight. The queue is sent a short
// while after the first event, at once when the page is hidden or left (navigator.sendBeacon),
// and a batch that failed (network error, 429, 5xx) is sent again later with the same
// message_ids, which the service deduplicates.

type Props = Record<string, unknown>;

export interface TrackerOptions {
  /** Base URL of the service. */
  api: string;
  /** The project key; empty: nothing is tracked. */
  key: string;
  pageviews?: boolean;
  errors?: boolean;
  hash?: boolean;
  cookieless?: boolean;
  exclude?: string[];
  /** context.library.name */
  lib: string;
}

export interface Tracker {
  track(event: string, properties?: Props): void;
  identify(userId: string, traits?: Props): void;
  alias(userId: string): void;
  reset(): void;
  optOut(): void;
  optIn(): void;
  flush(): Promise<void>;
  page(): void;
  captureException(error: unknown, meta?: Props): void;
}

declare const VERSION: string;

/** How long a session may stay idle before the next event starts a new one. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** How long an event waits in the queue before the queue is sent. */
export const FLUSH_MS = 1000;
/** Events per request (the service takes up to 100). */
export const BATCH = 50;
/** Events kept while the service cannot be reached; older ones go first. */
export const QUEUE_MAX = 500;
/** Error reports per page, and the longest stack sent. */
export const MAX_ERRORS = 25;
export const MAX_STACK = 4096;

export const ANON_KEY = "reactor_anon_id";
export const USER_KEY = "reactor_user_id";
export const SESSION_KEY = "reactor_session";
export const OPT_OUT_KEY = "reactor_opt_out";

type Event = {
  event: string;
  message_id: string;
  timestamp: string;
  properties: Props;
  context: Props;
  anonymous_id?: string;
  user_id?: string;
};

type View = { url: string; path: string; title: string };

const noop = () => {};

/** DNT or Global Privacy Control: nothing is sent and nothing stored. */
export function doNotTrack(): boolean {
  const n: any = typeof navigator != "undefined" ? navigator : {};
  const w: any = typeof window != "undefined" ? window : {};
  return n.doNotTrack == "1" || n.doNotTrack == "yes" || w.doNotTrack == "1" || n.globalPrivacyControl === true;
}

/** A random UUID v4 (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  let s = "";
  for (let i = 0; i < 16; i++) s += (i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "") + (b[i] + 256).toString(16).slice(1);
  return s;
}

/** A path glob: `*` within one segment, `**` across segments. */
export function glob(pattern: string): RegExp {
  return RegExp(
    "^" +
      pattern
        .trim()
        .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
        .replace(/\*\*|\*/g, (m) => (m == "*" ? "[^/]*" : ".*")) +
      "$",
  );
}

export function createTracker(o: TrackerOptions): Tracker {
  const off: Tracker = {
    track: noop,
    identify: noop,
    alias: noop,
    reset: noop,
    optOut: noop,
    optIn: noop,
    flush: () => Promise.resolve(),
    page: noop,
    captureException: noop,
  };
  if (!o.key || doNotTrack()) return off;

  const browser = typeof window != "undefined" && typeof document != "undefined";
  const cookieless = !!o.cookieless;
  const endpoint = o.api + "/analytics/v1/batch";
  const excluded = (o.exclude || []).filter((g) => g.trim()).map(glob);
  const memory: Record<string, string | undefined> = {};
  const seen: Record<string, number> = {};
  let errors = 0;
  let queue: Event[] = [];
  let timer: any = 0;
  let backoff = 0;
  let view: View | undefined;
  let lastPath: string | undefined;
  let landing = true;
  let visibleMs = 0;
  let visibleSince = 0;

  // Storage: localStorage, or memory only when cookieless (or when storage is refused).
  const get = (k: string): string | undefined => {
    if (!cookieless)
      try {
        return localStorage.getItem(k) ?? undefined;
      } catch {}
    return memory[k];
  };
  const set = (k: string, v?: string) => {
    memory[k] = v;
    if (!cookieless)
      try {
        v == null ? localStorage.removeItem(k) : localStorage.setItem(k, v);
      } catch {}
  };
  const optedOut = () => get(OPT_OUT_KEY) == "1";
  const anonymousId = () => {
    let id = get(ANON_KEY);
    if (!id) set(ANON_KEY, (id = uuid()));
    return id;
  };
  const sessionId = (now: number) => {
    const [id, last] = (get(SESSION_KEY) || "").split(" ");
    const current = id && now - +last < SESSION_IDLE_MS ? id : uuid();
    set(SESSION_KEY, current + " " + now);
    return current;
  };

  const here = (): View => {
    const l = location;
    return {
      url: l.href,
      path: l.pathname + (o.hash ? l.hash.replace(/\?.*/, "") : ""),
      title: document.title,
    };
  };

  function context(page: View | undefined, now: number, referrer?: string): Props {
    const c: Props = {
      library: { name: o.lib, version: VERSION },
      locale: typeof navigator != "undefined" ? navigator.language : undefined,
    };
    try {
      c.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch {}
    if (page) c.page = referrer ? { ...page, referrer } : page;
    // A cookieless browser keeps no id: the service derives the person (context.cookieless).
    if (cookieless) c.cookieless = true;
    else c.session_id = sessionId(now);
    return c;
  }

  function send(event: string, properties?: Props, page?: View, referrer?: string, ids?: [string | undefined, string]) {
    if (optedOut()) return;
    const now = Date.now();
    const e: Event = {
      event,
      message_id: uuid(),
      timestamp: new Date(now).toISOString(),
      properties: properties || {},
      context: context(page || (browser ? here() : undefined), now, referrer),
    };
    const user = get(USER_KEY);
    if (ids) [e.anonymous_id, e.user_id] = ids;
    else {
      if (!cookieless) e.anonymous_id = anonymousId();
      if (user) e.user_id = user;
    }
    queue.push(e);
    if (queue.length > QUEUE_MAX) queue.splice(0, queue.length - QUEUE_MAX);
    if (!timer) timer = setTimeout(flush, backoff || FLUSH_MS);
  }

  /** Sends the queue: by beacon when the page is going away, else by fetch (keepalive). */
  function flush(beacon?: unknown): Promise<void> {
    clearTimeout(timer);
    timer = 0;
    const sends: Promise<void>[] = [];
    while (queue.length) {
      const batch = queue.splice(0, BATCH);
      const body = JSON.stringify({ batch, sent_at: new Date().toISOString(), key: o.key });
      if (beacon === true && navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" })))
        continue;
      sends.push(
        fetch(endpoint, { method: "POST", body, keepalive: true, credentials: "omit" })
          .then((r) => {
            if (r.status == 429 || r.status >= 500) throw r.status;
            backoff = 0;
          })
          .catch(() => {
            // Sent again later, with the same message_ids.
            queue.unshift(...batch);
            backoff = Math.min(backoff * 2 || FLUSH_MS, 30000);
            if (!timer) timer = setTimeout(flush, backoff);
          }),
      );
    }
    return Promise.all(sends).then(noop);
  }

  function pause() {
    if (visibleSince) visibleMs += Date.now() - visibleSince;
    visibleSince = 0;
  }

  /** `$pageleave` for the current view, with its visible time. */
  function leave() {
    if (!view) return;
    pause();
    send("$pageleave", { duration_ms: visibleMs }, view);
    view = undefined;
  }

  /** A new view when the path changed (History API, popstate, hash, load). */
  function page() {
    const now = here();
    if (now.path == lastPath) return;
    leave();
    lastPath = now.path;
    const first = landing;
    landing = false;
    if (excluded.some((g) => g.test(now.path))) return;
    view = now;
    visibleMs = 0;
    visibleSince = document.hidden ? 0 : Date.now();
    let referrer: string | undefined;
    try {
      const r = document.referrer;
      if (first && r && new URL(r).hostname != location.hostname) referrer = r;
    } catch {}
    send("$pageview", {}, view, referrer);
  }
  /** A view of the current page even when its path did not change (a page restored from the
   * back/forward cache, or a call of `page()`). */
  const pageAgain = () => {
    lastPath = undefined;
    page();
  };

  function captureException(error: unknown, meta?: Props, ev?: ErrorEvent, rejection?: boolean) {
    // An ErrorEvent without an error (a cross-origin "Script error.") has only its message.
    const x: any = error && typeof error == "object" ? error : { message: error == null && ev ? ev.message : String(error) };
    const type = String(x.name || (rejection ? "UnhandledRejection" : "Error"));
    const message = String(x.message == null ? "" : x.message);
    const stack = String(x.stack || "").slice(0, MAX_STACK);
    const key = type + message + stack.split("\n")[1];
    if (seen[key] || errors >= MAX_ERRORS) return;
    seen[key] = 1;
    errors++;
    const frame = /([^\s(@]+):(\d+):(\d+)/.exec(stack.slice(stack.indexOf("\n"))) || [];
    send("$error", {
      ...meta,
      type,
      message,
      stack,
      source: (ev && ev.filename) || frame[1] || null,
      lineno: (ev && ev.lineno) || +frame[2] || null,
      colno: (ev && ev.colno) || +frame[3] || null,
      handled: !ev && !rejection,
    });
  }

  if (browser) {
    const on = (target: EventTarget, name: string, f: (e: any) => void) => target.addEventListener(name, f);
    if (o.pageviews) {
      const h: any = history;
      for (const m of ["pushState", "replaceState"]) {
        const original = h[m];
        h[m] = function (this: History) {
          const r = original.apply(this, arguments);
          page();
          return r;
        };
      }
      on(window, "popstate", page);
      if (o.hash) on(window, "hashchange", page);
      on(window, "pageshow", (e: PageTransitionEvent) => e.persisted && pageAgain());
      page();
    }
    // Hidden time does not count; whatever is queued leaves by beacon when the page is hidden or left.
    on(document, "visibilitychange", () => {
      if (!document.hidden) return view && (visibleSince = Date.now());
      pause();
      flush(true);
    });
    on(window, "pagehide", () => {
      leave();
      flush(true);
    });
    if (o.errors) {
      on(window, "error", (e: ErrorEvent) => captureException(e.error, undefined, e));
      on(window, "unhandledrejection", (e: PromiseRejectionEvent) => captureException(e.reason, undefined, undefined, true));
    }
  }

  return {
    track: (event, properties) => send(event, properties),
    identify(userId, traits) {
      if (!userId || (userId == get(USER_KEY) && !traits)) return;
      set(USER_KEY, userId);
      send("$identify", { $set: traits || {} });
    },
    alias(userId) {
      const previous = get(USER_KEY) || (cookieless ? undefined : anonymousId());
      if (!userId || userId == previous) return;
      set(USER_KEY, userId);
      send("$alias", {}, undefined, undefined, [previous, userId]);
    },
    reset() {
      set(USER_KEY);
      set(ANON_KEY);
      set(SESSION_KEY);
    },
    optOut() {
      set(OPT_OUT_KEY, "1");
      queue = [];
    },
    optIn: () => set(OPT_OUT_KEY),
    flush: () => flush(),
    page: pageAgain,
    captureException: (error, meta) => captureException(error, meta),
  };
}
