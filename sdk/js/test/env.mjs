// A small stand-in for the browser globals the core reads (window, document, location, history,
// navigator, localStorage, fetch, timers), fresh for each test, with a clock the test moves.
// The real browser is exercised by tests/test_browser_tracker.py in Chromium.

import { webcrypto } from "node:crypto";

const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout, now: Date.now };

export function install({ url = "https://site.example/", referrer = "", dnt, gpc, fetchAnswer } = {}) {
  const env = { requests: [], beacons: [], storage: new Map(), now: Date.parse("2026-03-01T12:00:00Z"), timers: [] };
  let nextTimer = 1;

  const window = new EventTarget();
  const document = new EventTarget();
  document.title = "Title";
  document.referrer = referrer;
  document.hidden = false;
  const location = {};
  const setUrl = (u) => {
    const parsed = new URL(u, location.href || url);
    Object.assign(location, {
      href: parsed.href, pathname: parsed.pathname, hash: parsed.hash, hostname: parsed.hostname,
      search: parsed.search, origin: parsed.origin,
    });
  };
  setUrl(url);
  const history = {
    pushState(_s, _t, u) { setUrl(u); },
    replaceState(_s, _t, u) { setUrl(u); },
  };
  const storage = {
    getItem: (k) => (env.storage.has(k) ? env.storage.get(k) : null),
    setItem: (k, v) => env.storage.set(k, String(v)),
    removeItem: (k) => env.storage.delete(k),
  };
  const navigator = {
    language: "de-DE",
    doNotTrack: dnt,
    globalPrivacyControl: gpc,
    sendBeacon(target, blob) {
      env.beacons.push({ url: target, blob });
      return true;
    },
  };
  const fetch = async (target, init) => {
    const body = JSON.parse(init.body);
    env.requests.push({ url: target, init, body });
    const answer = fetchAnswer ? await fetchAnswer(env.requests.length, body) : { status: 200, json: { data: {} } };
    if (answer instanceof Error) throw answer;
    return { status: answer.status, ok: answer.status < 300, statusText: "", json: async () => answer.json };
  };
  Object.assign(globalThis, {
    window, document, location, history, localStorage: storage, fetch,
    setTimeout: (f, ms) => {
      const id = nextTimer++;
      env.timers.push({ id, at: env.now + ms, f });
      return id;
    },
    clearTimeout: (id) => {
      env.timers = env.timers.filter((t) => t.id !== id);
    },
  });
  Object.defineProperty(globalThis, "navigator", { value: navigator, configurable: true, writable: true });
  if (!globalThis.crypto) Object.defineProperty(globalThis, "crypto", { value: webcrypto, configurable: true });
  Date.now = () => env.now;

  /** Moves the clock by `ms`, running the timers that fall due. */
  env.advance = async (ms) => {
    const until = env.now + ms;
    for (;;) {
      env.timers.sort((a, b) => a.at - b.at);
      const due = env.timers[0];
      if (!due || due.at > until) break;
      env.timers.shift();
      env.now = due.at;
      due.f();
      await settle();
    }
    env.now = until;
    await settle();
  };
  env.navigate = (u) => history.pushState(null, "", u);
  env.hide = () => {
    document.hidden = true;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  env.show = () => {
    document.hidden = false;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  env.pagehide = () => window.dispatchEvent(new Event("pagehide"));
  /** Every event sent so far, by fetch and by beacon, in order. */
  env.events = async () => {
    const out = [];
    for (const r of env.requests) out.push(...r.body.batch);
    for (const b of env.beacons) out.push(...JSON.parse(await b.blob.text()).batch);
    return out;
  };
  env.restore = () => {
    Object.assign(globalThis, { setTimeout: real.setTimeout, clearTimeout: real.clearTimeout });
    Date.now = real.now;
  };
  return env;
}

export const settle = () => new Promise((resolve) => setImmediate(resolve));
