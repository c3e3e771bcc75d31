/**
 * The HTTP client's cancellation: one controller per request carries both the caller's signal
 * and the request time limit, and the time limit covers reading the body, not only the headers.
 * The transport here is a `fetch` that answers when told to (the client's own logic is the
 * subject: no homeserver is involved).
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, test } from "node:test";
import { MatrixNetworkError } from "../../src/api/errors.js";
import { HttpClient, type FetchLike } from "../../src/api/http.js";

/** A fetch that never answers; it rejects with the signal's reason once aborted. */
const hanging: FetchLike = (_url, init) =>
  new Promise((_resolve, reject) => {
    const signal = init.signal as AbortSignal;
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
  });

describe("HttpClient cancellation", () => {
  // The client's timers are unref'd (a real socket keeps the process alive; these fakes do not).
  let alive: NodeJS.Timeout;
  before(() => void (alive = setInterval(() => undefined, 1000)));
  after(() => clearInterval(alive));

  test("a request past its time limit fails as a network error saying it timed out", async () => {
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: hanging, requestTimeoutMs: 5, maxTransientRetries: 0 });
    await assert.rejects(http.request({ method: "GET", path: "/x" }), (error: unknown) => error instanceof MatrixNetworkError && /timed out/.test(String((error as Error).cause)));
  });

  test("the time limit covers a body that stalls after the headers", async () => {
    const stalled: FetchLike = async (_url, init) => {
      const signal = init.signal as AbortSignal;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"a":'));
          signal.addEventListener("abort", () => controller.error(signal.reason), { once: true });
        },
      });
      return new Response(body, { status: 200 });
    };
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: stalled, requestTimeoutMs: 5, maxTransientRetries: 0 });
    await assert.rejects(http.request({ method: "GET", path: "/x" }), MatrixNetworkError);
  });

  test("the caller's signal aborts the request with its own reason, already aborted or later", async () => {
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: hanging });
    const early = new AbortController();
    early.abort(new DOMException("early", "AbortError"));
    await assert.rejects(http.request({ method: "GET", path: "/x", signal: early.signal }), { message: "early" });
    const late = new AbortController();
    const pending = http.request({ method: "GET", path: "/x", signal: late.signal });
    late.abort(new DOMException("late", "AbortError"));
    await assert.rejects(pending, { message: "late" });
  });

  test("a long-lived signal (the sync loop's) gathers no listeners over many requests", async () => {
    const ok: FetchLike = async () => new Response("{}", { status: 200 });
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: ok });
    const loop = new AbortController();
    for (let i = 0; i < 50; i++) await http.request({ method: "GET", path: "/sync", signal: loop.signal });
    await assert.rejects(http.request({ method: "GET", path: "/x", signal: loop.signal, raw: true }).then(() => { throw new Error("done"); }), { message: "done" });
    assert.equal(getEventListeners(loop.signal, "abort").length, 0);
  });
});
