/**
 * The `m.direct` writer's serialization and batching, over an in-memory
 * account-data transport (the integration tests check it against Synapse).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { MatrixError } from "../../src/api/errors.js";
import type { FetchLike } from "../../src/api/http.js";
import { DirectWriter } from "../../src/dm/writer.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const BOT = "@bot:example.org";

/** Account data kept in memory; `fail` makes the next requests answer with a status. */
function accountData(initial?: Record<string, unknown>) {
  let stored = initial === undefined ? undefined : JSON.stringify(initial);
  const log: string[] = [];
  const failures: { method: string; status: number; errcode: string }[] = [];
  const fetch: FetchLike = async (input, init) => {
    const method = init.method ?? "GET";
    log.push(method);
    // Yield so that concurrent writers really interleave.
    await new Promise((r) => setTimeout(r, 1));
    const fail = failures.findIndex((f) => f.method === method);
    if (fail >= 0) {
      const [f] = failures.splice(fail, 1);
      return new Response(JSON.stringify({ errcode: f!.errcode }), { status: f!.status });
    }
    if (!new URL(input).pathname.endsWith("/account_data/m.direct")) return new Response("{}", { status: 404 });
    if (method === "PUT") {
      stored = init.body as string;
      return new Response("{}", { status: 200 });
    }
    if (stored === undefined) return new Response(JSON.stringify({ errcode: "M_NOT_FOUND" }), { status: 404 });
    return new Response(stored, { status: 200 });
  };
  const api = new MatrixApi({ baseUrl: "http://hs.invalid", accessToken: "t", fetch, maxTransientRetries: 0 });
  const tracker = new RoomTracker(BOT);
  return {
    writer: new DirectWriter({ api, rooms: tracker, userId: BOT }),
    tracker,
    log,
    failures,
    stored: () => (stored === undefined ? undefined : (JSON.parse(stored) as Record<string, unknown>)),
  };
}

describe("DirectWriter", () => {
  test("no m.direct yet (404 M_NOT_FOUND) reads as empty; the local copy follows the write", async () => {
    const { writer, tracker, stored } = accountData();
    assert.deepEqual(await writer.read(), {});
    await writer.add("@a:x", "!1:x");
    assert.deepEqual(stored(), { "@a:x": ["!1:x"] });
    assert.deepEqual(tracker.accountData.get("m.direct"), { "@a:x": ["!1:x"] });
  });

  test("concurrent additions are all kept, batched into few writes, and unknown keys survive", async () => {
    const junk = { "x.unknown": { deep: [1] }, "@other:y": ["!o:y"], "@weird:y": 5 };
    const { writer, stored, log } = accountData(junk);
    await Promise.all(Array.from({ length: 30 }, (_, i) => writer.add(`@u${i % 10}:x`, `!r${i}:x`)));
    const content = stored()!;
    for (let i = 0; i < 30; i++) assert.ok((content[`@u${i % 10}:x`] as string[]).includes(`!r${i}:x`), `lost !r${i}`);
    for (const [key, value] of Object.entries(junk)) assert.deepEqual(content[key], value);
    const puts = log.filter((m) => m === "PUT").length;
    assert.ok(puts <= 3, `expected batching, got ${puts} writes`);
    assert.equal(log.filter((m) => m === "GET").length, puts, "every write reads first");
  });

  test("an addition already present costs a read but no write", async () => {
    const { writer, log } = accountData({ "@a:x": ["!1:x"] });
    await writer.add("@a:x", "!1:x");
    assert.deepEqual(log, ["GET"]);
  });

  test("a 404 that is not M_NOT_FOUND is not mistaken for empty: nothing is overwritten", async () => {
    const { writer, failures, stored, log } = accountData({ "@keep:x": ["!k:x"] });
    failures.push({ method: "GET", status: 404, errcode: "M_UNRECOGNIZED" });
    await assert.rejects(writer.add("@a:x", "!1:x"), (e: unknown) => e instanceof MatrixError && e.errcode === "M_UNRECOGNIZED");
    assert.deepEqual(log, ["GET"]);
    assert.deepEqual(stored(), { "@keep:x": ["!k:x"] });
  });

  test("a failed write stays pending and is written by the next flush", async () => {
    const { writer, failures, stored } = accountData({});
    failures.push({ method: "PUT", status: 403, errcode: "M_FORBIDDEN" });
    await assert.rejects(writer.add("@a:x", "!1:x"), MatrixError);
    assert.equal(writer.hasPending, true);
    await writer.add("@b:x", "!2:x");
    assert.deepEqual(stored(), { "@a:x": ["!1:x"], "@b:x": ["!2:x"] });
    assert.equal(writer.hasPending, false);
  });
});
