/**
 * How the HTTP client reads a JSON body. At 10 000 rooms the initial sync is over 20 MB, and
 * every extra copy of it is peak RSS: the body is read as `res.json()` reads it (one buffer,
 * one decode), not with `arrayBuffer()`, which on Node 20 copies the whole buffer once more.
 * The transport is a scripted `fetch` (the client's own logic is the subject).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixError } from "../../src/api/errors.js";
import { HttpClient, type FetchLike } from "../../src/api/http.js";

/** A response whose `arrayBuffer()` must not be used, delivered in the given chunks. */
function NoArrayBuffer(chunks: Uint8Array[], status = 200): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({ pull: (c) => (i < chunks.length ? c.enqueue(chunks[i++]!) : c.close()) });
  const response = new Response(body, { status, headers: { "content-type": "application/json" } });
  Object.defineProperty(response, "arrayBuffer", { value: () => Promise.reject(new Error("arrayBuffer() copies the whole body once more")) });
  return response;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const client = (respond: () => Response): HttpClient =>
  new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: (async () => respond()) as FetchLike, maxTransientRetries: 0 });

describe("HttpClient JSON bodies", () => {
  test("are read without arrayBuffer(), a multi-byte character split between chunks intact", async () => {
    const all = bytes(JSON.stringify({ next_batch: "s1", name: "Grüße 🎉" }));
    // Cut inside the emoji's four bytes.
    const cut = all.length - 5;
    const json = await client(() => NoArrayBuffer([all.subarray(0, cut), all.subarray(cut)])).request<{ name: string }>({ method: "GET", path: "/x" });
    assert.equal(json.name, "Grüße 🎉");
  });

  test("an empty body is {}, a byte order mark is skipped", async () => {
    assert.deepEqual(await client(() => NoArrayBuffer([])).request({ method: "GET", path: "/x" }), {});
    assert.deepEqual(await client(() => NoArrayBuffer([new Uint8Array([0xef, 0xbb, 0xbf]), bytes('{"a":1}')])).request({ method: "GET", path: "/x" }), { a: 1 });
  });

  test("a body that is not JSON is M_NOT_JSON; an error's JSON body still gives its errcode", async () => {
    await assert.rejects(client(() => NoArrayBuffer([bytes("<html>")])).request({ method: "GET", path: "/x" }), (e: unknown) => e instanceof MatrixError && e.errcode === "M_NOT_JSON");
    await assert.rejects(
      client(() => NoArrayBuffer([bytes('{"errcode":"M_FORBIDDEN","error":"no"}')], 403)).request({ method: "GET", path: "/x" }),
      (e: unknown) => e instanceof MatrixError && e.errcode === "M_FORBIDDEN" && e.status === 403,
    );
  });
});
