import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createClient, ReactorError } from "../build/test/sdk.mjs";
import { FLUSH_MS } from "../build/test/core.mjs";
import { install } from "./env.mjs";

const STATIC = new URL("../../../python/reactor_analytics/static/", import.meta.url);
let env;
afterEach(() => env && env.restore());

test("tracker.js is at most 3 KB gzip and has no runtime dependency", () => {
  const tracker = readFileSync(new URL("tracker.js", STATIC));
  const gzip = gzipSync(tracker, { level: 9 }).length;
  console.log(`tracker.js: ${tracker.length} bytes, ${gzip} bytes gzip (limit 3072)`);
  assert.ok(gzip <= 3072, `tracker.js is ${gzip} bytes gzip`);
  assert.doesNotMatch(tracker.toString(), /\brequire\(|\bimport\b/);
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url)));
  assert.equal(pkg.dependencies, undefined);
});

test("sdk.js is an ES module exporting createClient, with its types beside it", () => {
  const sdk = readFileSync(new URL("sdk.js", STATIC), "utf8");
  assert.match(sdk, /export\s*\{[^}]*createClient/);
  const types = readFileSync(new URL("sdk.d.ts", STATIC), "utf8");
  assert.match(types, /export declare function createClient\(options: ClientOptions\): Client;/);
  assert.doesNotMatch(types, /from "\.\/core"/);
});

test("createClient tracks with the key and the options", async () => {
  env = install({ url: "https://app.example/start" });
  const client = createClient({ url: "https://an.example/", key: "rapk_k", analytics: { autoPageview: true } });
  client.analytics.track("clicked", { button: "buy" });
  await client.analytics.flush();
  const [request] = env.requests;
  assert.equal(request.url, "https://an.example/analytics/v1/batch");
  assert.equal(request.body.key, "rapk_k");
  assert.deepEqual(request.body.batch.map((e) => e.event), ["$pageview", "clicked"]);
  assert.equal(request.body.batch[0].context.library.name, "reactor-sdk");
});

test("enabled: false tracks nothing", async () => {
  env = install();
  const client = createClient({ url: "https://an.example", key: "rapk_k", analytics: { enabled: false, autoPageview: true } });
  client.analytics.track("x");
  await env.advance(FLUSH_MS * 3);
  assert.equal(env.requests.length, 0);
  assert.equal(env.storage.size, 0);
});

test("autoIdentify identifies the token's subject once", async () => {
  env = install();
  const payload = Buffer.from(JSON.stringify({ sub: "u_42" })).toString("base64url");
  const token = `e30.${payload}.sig`;
  createClient({ url: "https://an.example", key: "rapk_k", token, analytics: { autoIdentify: true } });
  createClient({ url: "https://an.example", key: "rapk_k", token, analytics: { autoIdentify: true } });
  await env.advance(FLUSH_MS);
  const events = await env.events();
  assert.deepEqual(events.map((e) => [e.event, e.user_id]), [["$identify", "u_42"]]);
});

test("query and erase: the JWT as bearer, snake_case fields, the project header", async () => {
  env = install({
    fetchAnswer: (n) => (n === 1 ? { status: 200, json: { data: { kind: "aggregate", rows: [{ value: 3 }] } } }
      : { status: 200, json: { data: { events: 2, identity_links: 0, traits: 0 } } }),
  });
  const client = createClient({ url: "https://an.example", token: "jwt" });
  const answer = await client.analytics.query({ projectId: "web-prod", kind: "aggregate", timeRange: { last: "30d" }, groupBy: [{ prop: "plan" }] });
  assert.deepEqual(answer.rows, [{ value: 3 }]);
  const erased = await client.analytics.erase({ projectId: "web-prod", userId: "u_42" });
  assert.equal(erased.events, 2);
  const [q, e] = env.requests;
  assert.equal(q.url, "https://an.example/analytics/v1/query");
  assert.equal(q.init.headers.Authorization, "Bearer jwt");
  assert.equal(q.init.headers["X-Reactor-Project"], "web-prod");
  assert.deepEqual(q.body, { project_id: "web-prod", kind: "aggregate", time_range: { last: "30d" }, group_by: [{ prop: "plan" }] });
  assert.equal(e.url, "https://an.example/analytics/v1/erase");
  assert.deepEqual(e.body, { project_id: "web-prod", user_id: "u_42" });
});

test("an error answer becomes a ReactorError with its code; no token is refused before sending", async () => {
  env = install({ fetchAnswer: () => ({ status: 403, json: { error: { code: "analytics.auth.forbidden", message: "not permitted" } } }) });
  const client = createClient({ url: "https://an.example", token: "jwt" });
  await assert.rejects(client.analytics.query({ kind: "events" }), (err) => {
    assert.ok(err instanceof ReactorError);
    assert.equal(err.status, 403);
    assert.equal(err.code, "analytics.auth.forbidden");
    return true;
  });
  const anonymous = createClient({ url: "https://an.example", key: "rapk_k" });
  await assert.rejects(anonymous.analytics.erase({ userId: "u" }), (err) => err.status === 401);
  assert.equal(env.requests.length, 1);
});
