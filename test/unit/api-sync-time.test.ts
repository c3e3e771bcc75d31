/**
 * The time limit of sync requests: a long poll gets its wait on top of the
 * request limit, and a catch-up sync (no wait: the first after a start, which
 * carries every room) is not cut at the request limit, or a bot in thousands
 * of rooms on a busy server would retry the same initial sync forever.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { silentLogger } from "../../src/logging/logger.js";

/** A server that answers every request after `ms`, honouring the caller's abort. */
function slowFetch(ms: number): typeof fetch {
  return ((_url: string, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => resolve(new Response(JSON.stringify({ next_batch: "s2" }), { status: 200, headers: { "content-type": "application/json" } })), ms);
      init?.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(init.signal?.reason ?? new DOMException("aborted", "AbortError"));
      });
    })) as typeof fetch;
}

const api = (): MatrixApi =>
  new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch: slowFetch(150), logger: silentLogger, requestTimeoutMs: 20, maxTransientRetries: 0 });

test("a catch-up sync (timeout 0) outlives the request time limit", async () => {
  const r = await api().sync.sync({ timeout: 0 });
  assert.equal(r.next_batch, "s2");
});

test("a long poll is still cut at its wait plus the request time limit", async () => {
  await assert.rejects(api().sync.sync({ since: "s1", timeout: 10 }));
});

test("other requests keep the request time limit", async () => {
  await assert.rejects(api().account.whoami());
});
