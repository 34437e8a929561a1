import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  createTracker, glob, uuid, ANON_KEY, SESSION_KEY, OPT_OUT_KEY, USER_KEY, FLUSH_MS, MAX_ERRORS, MAX_STACK,
  SESSION_IDLE_MS,
} from "../build/test/core.mjs";
import { install } from "./env.mjs";

let env;
afterEach(() => env && env.restore());

const start = (options = {}, envOptions = {}) => {
  env = install(envOptions);
  return createTracker({ api: "https://an.example", key: "rapk_test", lib: "test", ...options });
};

test("uuid is a version 4 UUID", () => {
  for (let i = 0; i < 50; i++) assert.match(uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("globs: * within a segment, ** across segments, literal dots", () => {
  assert.ok(glob("/admin/*").test("/admin/users"));
  assert.ok(!glob("/admin/*").test("/admin/users/5"));
  assert.ok(!glob("/admin/*").test("/admin"));
  assert.ok(glob("/admin/**").test("/admin/users/5"));
  assert.ok(glob(" /preview ").test("/preview"));
  assert.ok(!glob("/preview").test("/previews"));
  assert.ok(!glob("/a.b").test("/aXb"));
});

test("events are batched into one text/plain POST to /batch with the key in the body", async () => {
  const t = start();
  t.track("signup", { plan: "pro" });
  t.track("upgrade");
  assert.equal(env.requests.length, 0, "nothing is sent before the flush interval");
  await env.advance(FLUSH_MS);
  assert.equal(env.requests.length, 1);
  const { url, init, body } = env.requests[0];
  assert.equal(url, "https://an.example/analytics/v1/batch");
  assert.equal(init.method, "POST");
  assert.equal(typeof init.body, "string", "a string body is sent as text/plain: no CORS preflight");
  assert.equal(init.headers, undefined);
  assert.equal(init.keepalive, true);
  assert.equal(body.key, "rapk_test");
  assert.deepEqual(body.batch.map((e) => e.event), ["signup", "upgrade"]);
  const [first, second] = body.batch;
  assert.deepEqual(first.properties, { plan: "pro" });
  assert.equal(first.anonymous_id, env.storage.get(ANON_KEY));
  assert.equal(second.anonymous_id, first.anonymous_id);
  assert.notEqual(first.message_id, second.message_id);
  assert.equal(first.context.locale, "de-DE");
  assert.equal(typeof first.context.timezone, "string");
  assert.equal(first.context.page.url, "https://site.example/");
  assert.equal(first.context.page.path, "/");
  assert.equal(first.context.session_id, second.context.session_id);
  assert.equal(first.context.library.name, "test");
});

test("a failed batch is sent again with the same message_ids; a 400 is not retried", async () => {
  const answers = [new TypeError("network"), { status: 503 }, { status: 200 }, { status: 400 }];
  const t = start({}, { fetchAnswer: (n) => answers[n - 1] || { status: 200 } });
  t.track("a");
  t.track("b");
  await env.advance(FLUSH_MS);
  await env.advance(60_000);
  assert.equal(env.requests.length, 3);
  const ids = env.requests.map((r) => r.body.batch.map((e) => e.message_id).join());
  assert.equal(ids[0], ids[1]);
  assert.equal(ids[1], ids[2]);
  t.track("c");
  await env.advance(60_000);
  assert.equal(env.requests.length, 4);
  await env.advance(120_000);
  assert.equal(env.requests.length, 4, "a refused batch is dropped");
});

test("the session rotates after 30 minutes idle, not while active", async () => {
  const t = start();
  t.track("a");
  await env.advance(SESSION_IDLE_MS - 1000);
  t.track("b");
  await env.advance(SESSION_IDLE_MS - 1000);
  t.track("c");
  await env.advance(SESSION_IDLE_MS + 1000);
  t.track("d");
  await env.advance(FLUSH_MS);
  const sessions = (await env.events()).map((e) => e.context.session_id);
  assert.equal(sessions[0], sessions[1]);
  assert.equal(sessions[1], sessions[2]);
  assert.notEqual(sessions[2], sessions[3]);
  assert.ok(env.storage.get(SESSION_KEY).startsWith(sessions[3]));
});

test("identify, alias and reset", async () => {
  const t = start();
  t.track("before");
  t.identify("u_1", { plan: "pro" });
  t.identify("u_1"); // already identified, no traits: nothing new to say
  t.track("after");
  t.alias("u_2");
  t.reset();
  t.track("anonymous again");
  await env.advance(FLUSH_MS);
  const [before, identify, after, alias, again] = await env.events();
  assert.equal(identify.event, "$identify");
  assert.equal(identify.user_id, "u_1");
  assert.equal(identify.anonymous_id, before.anonymous_id);
  assert.deepEqual(identify.properties, { $set: { plan: "pro" } });
  assert.equal(after.user_id, "u_1");
  assert.equal(alias.event, "$alias");
  assert.equal(alias.anonymous_id, "u_1", "alias links the current id to the new one");
  assert.equal(alias.user_id, "u_2");
  assert.equal(again.user_id, undefined);
  assert.notEqual(again.anonymous_id, before.anonymous_id);
  assert.notEqual(again.context.session_id, before.context.session_id);
  assert.equal(env.storage.get(USER_KEY), undefined);
});

test("optOut sends nothing until optIn, and is remembered", async () => {
  let t = start();
  t.track("queued");
  t.optOut();
  t.track("dropped");
  await env.advance(FLUSH_MS * 5);
  assert.equal(env.requests.length, 0);
  assert.equal(env.storage.get(OPT_OUT_KEY), "1");
  // A new page load in the same browser stays opted out.
  const storage = env.storage;
  env.restore();
  env = install();
  for (const [k, v] of storage) env.storage.set(k, v);
  t = createTracker({ api: "https://an.example", key: "rapk_test", lib: "test", pageviews: true });
  t.track("still dropped");
  await env.advance(FLUSH_MS * 5);
  assert.equal(env.requests.length, 0);
  t.optIn();
  t.track("sent");
  await env.advance(FLUSH_MS);
  assert.deepEqual((await env.events()).map((e) => e.event), ["sent"]);
});

for (const [name, options] of [["DNT", { dnt: "1" }], ["GPC", { gpc: true }]]) {
  test(`${name}: nothing sent, nothing stored`, async () => {
    const t = start({ pageviews: true, errors: true }, options);
    t.track("x");
    t.identify("u");
    env.navigate("/other");
    env.pagehide();
    await t.flush();
    await env.advance(FLUSH_MS * 5);
    assert.equal(env.requests.length + env.beacons.length, 0);
    assert.equal(env.storage.size, 0);
  });
}

test("cookieless: no storage, no anonymous id, no session id", async () => {
  const t = start({ cookieless: true, pageviews: true });
  t.track("x");
  await env.advance(FLUSH_MS);
  const events = await env.events();
  assert.deepEqual(events.map((e) => e.event), ["$pageview", "x"]);
  for (const e of events) {
    assert.equal(e.anonymous_id, undefined);
    assert.equal(e.context.session_id, undefined);
    assert.equal(e.context.cookieless, true);
  }
  assert.equal(env.storage.size, 0);
});

test("page views: History API, hash routes with hash, referrer only on the landing view", async () => {
  const t = start({ pageviews: true, hash: true }, { url: "https://site.example/?utm_source=news", referrer: "https://ref.example/a" });
  env.navigate("/pricing");
  env.navigate("/pricing?tab=2"); // same path: not a new view
  env.navigate("/app#/settings?x=1");
  env.navigate("/app#/profile");
  window.dispatchEvent(new Event("hashchange")); // path unchanged: nothing more
  await env.advance(FLUSH_MS);
  const views = (await env.events()).filter((e) => e.event == "$pageview");
  assert.deepEqual(views.map((e) => e.context.page.path), ["/", "/pricing", "/app#/settings", "/app#/profile"]);
  assert.equal(views[0].context.page.referrer, "https://ref.example/a");
  assert.equal(views[0].context.page.url, "https://site.example/?utm_source=news");
  for (const v of views.slice(1)) assert.equal(v.context.page.referrer, undefined);
});

test("an internal referrer is not sent, even on the landing view", async () => {
  start({ pageviews: true }, { url: "https://site.example/b", referrer: "https://site.example/a" });
  await env.advance(FLUSH_MS);
  const [view] = await env.events();
  assert.equal(view.context.page.referrer, undefined);
});

test("without hash, hash changes are not page views", async () => {
  start({ pageviews: true });
  env.navigate("/#/a");
  window.dispatchEvent(new Event("hashchange"));
  await env.advance(FLUSH_MS);
  assert.deepEqual((await env.events()).map((e) => e.context.page.path), ["/"]);
});

test("$pageleave carries the visible time only, and the page it leaves", async () => {
  start({ pageviews: true }, { url: "https://site.example/first" });
  await env.advance(2000); // visible 2 s
  env.hide();
  await env.advance(60_000); // hidden: not counted
  env.show();
  await env.advance(3000); // visible 3 s more
  env.navigate("/second");
  await env.advance(500);
  env.hide();
  env.pagehide();
  await env.advance(FLUSH_MS);
  const events = await env.events();
  const leaves = events.filter((e) => e.event == "$pageleave");
  assert.equal(leaves.length, 2);
  assert.equal(leaves[0].context.page.path, "/first");
  assert.equal(leaves[0].properties.duration_ms, 5000);
  assert.equal(leaves[1].context.page.path, "/second");
  assert.equal(leaves[1].properties.duration_ms, 500);
  assert.ok(env.beacons.length >= 1, "the page's last events leave by beacon");
  assert.equal(env.beacons.at(-1).blob.type, "text/plain");
});

test("data-exclude: no page view and no page leave for excluded paths", async () => {
  start({ pageviews: true, exclude: ["/admin/*", "/preview"] }, { url: "https://site.example/admin/users" });
  env.navigate("/preview");
  env.navigate("/ok");
  env.navigate("/admin/x/y");
  env.pagehide();
  await env.advance(FLUSH_MS);
  const events = (await env.events()).map((e) => `${e.event} ${e.context.page.path}`);
  assert.deepEqual(events, ["$pageview /ok", "$pageleave /ok", "$pageview /admin/x/y", "$pageleave /admin/x/y"]);
});

test("errors: the fields, the stack cap, repeats dropped, at most 25 per page", async () => {
  const t = start({ errors: true });
  const boom = new TypeError("boom");
  boom.stack = "TypeError: boom\n    at f (https://site.example/app.js:10:5)\n" + "x".repeat(10_000);
  t.captureException(boom, { release: "1.2" });
  t.captureException(boom); // a repeat
  window.dispatchEvent(Object.assign(new Event("error"), {
    error: new RangeError("bad"), message: "bad", filename: "https://site.example/b.js", lineno: 3, colno: 7,
  }));
  window.dispatchEvent(Object.assign(new Event("unhandledrejection"), { reason: "nope" }));
  window.dispatchEvent(Object.assign(new Event("error"), { error: null, message: "Script error.", filename: "", lineno: 0, colno: 0 }));
  for (let i = 0; i < 40; i++) t.captureException(new Error("e" + i));
  t.captureException(new Error("e3")); // a repeat: dropped even when under the cap
  await env.advance(FLUSH_MS);
  const errors = (await env.events()).filter((e) => e.event == "$error");
  assert.equal(errors.length, MAX_ERRORS);
  const [handled, auto, rejection, opaque] = errors.map((e) => e.properties);
  assert.deepEqual([opaque.type, opaque.message, opaque.source, opaque.stack], ["Error", "Script error.", null, ""]);
  assert.equal(handled.type, "TypeError");
  assert.equal(handled.message, "boom");
  assert.equal(handled.stack.length, MAX_STACK);
  assert.equal(handled.source, "https://site.example/app.js");
  assert.equal(handled.lineno, 10);
  assert.equal(handled.colno, 5);
  assert.equal(handled.release, "1.2");
  assert.equal(handled.handled, true);
  assert.deepEqual([auto.type, auto.message, auto.source, auto.lineno, auto.colno, auto.handled],
    ["RangeError", "bad", "https://site.example/b.js", 3, 7, false]);
  assert.deepEqual([rejection.type, rejection.message], ["UnhandledRejection", "nope"]);
});

test("no key: nothing at all", async () => {
  env = install();
  const t = createTracker({ api: "https://an.example", key: "", lib: "test", pageviews: true });
  t.track("x");
  await env.advance(FLUSH_MS);
  assert.equal(env.requests.length, 0);
  assert.equal(env.storage.size, 0);
});
