// The script tag served at /tracker.js:
//   <script defer src="https://HOST/tracker.js" data-api="https://HOST" data-key="rapk_…"></script>
// Options: data-auto-errors, data-hash, data-cookieless ("true"), data-exclude ("/admin/*,/preview").
// Exposes window.reactor and window.analytics.event / captureException.

import { createTracker } from "./core";

const script = document.currentScript as HTMLScriptElement | null;
const data = (name: string) => (script && script.getAttribute("data-" + name)) || "";
const flag = (name: string) => /^(true|1|yes|)$/i.test(data(name)) && !!script && script.hasAttribute("data-" + name);
const api = (data("api") || (script ? new URL(script.src, location.href).origin : "")).replace(/\/+$/, "");

const w = window as any;
const reactor = createTracker({
  api,
  key: data("key"),
  pageviews: true,
  errors: flag("auto-errors"),
  hash: flag("hash"),
  cookieless: flag("cookieless"),
  exclude: data("exclude").split(","),
  lib: "reactor-tracker",
});
w.reactor = reactor;
w.analytics = w.analytics || {
  event: (name: string, data?: Record<string, unknown>) => reactor.track(name, data),
  captureException: reactor.captureException,
};
