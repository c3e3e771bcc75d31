/**
 * What the HTTP client itself costs per request, counted (not timed): the promises it makes
 * around the transport. With Node 20's promise hooks on (any `AsyncLocalStorage` in use, niobot's
 * handler context included) every promise and every `await` is a hook call and garbage, so each
 * async wrapper layer counts. The transport here answers at once with a minimal response, so
 * what is counted is the client's own work. Also: query strings are encoded as `URLSearchParams`
 * encodes them, without one per request.
 */
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { describe, test } from "node:test";
import fc from "fast-check";
import { formEncode, HttpClient, type FetchLike } from "../../src/api/http.js";

/** A response with nothing behind it: its body is already there. */
const answer = (text: string): Response => ({ ok: true, status: 200, headers: new Headers(), text: () => Promise.resolve(text) }) as unknown as Response;

/** Promises created while `work` runs to completion, the two of the transport included. */
async function promisesDuring(work: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && count++) }).enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  return count;
}

describe("HttpClient's own cost per request", () => {
  test("a request makes at most 11 promises, the transport's 2 included (it was 15)", async () => {
    const urls: string[] = [];
    const fetch: FetchLike = (url) => (urls.push(url), Promise.resolve(answer('{"event_id":"$e"}')));
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch, accessToken: "secret" });
    const send = () => http.request({ method: "PUT", path: "/send/1", body: { body: "pong" } });
    await send();
    const counts = [];
    for (let i = 0; i < 5; i++) counts.push(await promisesDuring(send));
    assert.ok(Math.max(...counts) <= 11, `promises per request: ${counts.join(", ")}`);
  });
});

/** Timers started while `work` runs to completion. */
async function timersDuring(work: () => Promise<unknown>): Promise<number> {
  const { setTimeout: original } = globalThis;
  let count = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof original>) => (count++, original(...args))) as typeof original;
  try {
    await work();
  } finally {
    globalThis.setTimeout = original;
  }
  return count;
}

describe("HttpClient's time limits", () => {
  test("requests ending in time start no timer each: their limits share one per length (it was one per request)", async () => {
    const fetch: FetchLike = () => Promise.resolve(answer("{}"));
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch, accessToken: "secret" });
    const send = () => http.request({ method: "PUT", path: "/send/1", body: { body: "pong" } });
    const poll = () => http.request({ method: "GET", path: "/sync", query: { timeout: 30000 }, extraTimeoutMs: 30_000 });
    await send();
    await poll();
    const counts = [];
    for (let i = 0; i < 5; i++) counts.push(await timersDuring(async () => (await send(), await poll())));
    assert.deepEqual(counts, [0, 0, 0, 0, 0]);
  });

  test("the limit still ends a request that hangs, for each length, and the others run on", async () => {
    const hanging: FetchLike = (url, init) =>
      url.includes("/slow") ? new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(init.signal?.reason))) : Promise.resolve(answer("{}"));
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: hanging, requestTimeoutMs: 5, maxTransientRetries: 0 });
    // The lane's timer is unref'd: something must keep this test's process alive meanwhile.
    const alive = setInterval(() => undefined, 1000);
    try {
      const slow = [0, 10, 20].map((extra) => http.request({ method: "GET", path: `/slow${extra}`, extraTimeoutMs: extra }).then(() => "answered", (e: Error) => e.message));
      assert.deepEqual(await http.request({ method: "GET", path: "/fast" }), {});
      assert.deepEqual(await Promise.all(slow), [0, 10, 20].map((extra) => `GET /slow${extra}: network error: request timed out`));
    } finally {
      clearInterval(alive);
    }
  });
});

describe("query strings", () => {
  test("are encoded exactly as URLSearchParams encodes them, for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (text) => {
        assert.equal(formEncode(text), new URLSearchParams([["", text]]).toString().slice(1));
      }),
      { numRuns: 2000 },
    );
    assert.equal(formEncode(`{"a": [1]} !'()~*-._\ud800`), new URLSearchParams([["", `{"a": [1]} !'()~*-._\ud800`]]).toString().slice(1));
  });

  test("a long value repeated (the sync filter) and values of other keys: the URL is URLSearchParams' in key order", async () => {
    const urls: string[] = [];
    const fetch: FetchLike = (url) => (urls.push(url), Promise.resolve(answer("{}")));
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch });
    const filter = JSON.stringify({ room: { timeline: { limit: 50, lazy_load_members: true } }, presence: { not_types: ["*"] } });
    const queries = [{ filter, since: "s1 2", timeout: 30000 }, { filter, since: "s2~", timeout: 0, full_state: false }, { filter: `${filter} `, since: undefined }];
    for (const query of queries) await http.request({ method: "GET", path: "/sync", query });
    assert.deepEqual(urls, queries.map((q) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
      return `http://127.0.0.1:1/sync?${params}`;
    }));
  });
});
