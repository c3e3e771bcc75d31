/**
 * What the handler context costs outside handlers: nothing. On Node 20 an enabled
 * `AsyncLocalStorage` runs a hook on every promise of the process and stores its value on it (a
 * `kResourceStore` property), the sync long poll's and undici's promises included. The storage
 * is enabled only while a handler's (or a send scope's) work has not settled, and the sync engine
 * enters it around the handler alone, not around its own bookkeeping or the next poll.
 *
 * Counted, not timed: whether a promise made at a given moment carries the storage's property.
 * On a Node whose storage needs no promise hooks (async context frames), there is nothing to
 * count and the tests say so.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MatrixApi } from "../../src/api/client.js";
import type { SyncResponse } from "../../src/api/types.js";
import { SendSequence } from "../../src/delivery/txn.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { HandlerScheduler, handlerSignal } from "../../src/sync/scheduler.js";
import type { SourceBatch, SyncSource } from "../../src/sync/source.js";
import { RoomTracker } from "../../src/sync/tracker.js";

/** Whether a promise made now gets the handler storage's value (the storage's hook ran on it). */
function hooked(): boolean {
  return Object.getOwnPropertySymbols(Promise.resolve()).some((symbol) => symbol.description === "kResourceStore");
}

/** The storage's hooks are switched off in a microtask after the last frame settles. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const never = new AbortController().signal;

describe("the handler context is paid for only while a handler runs", () => {
  test("a scheduler handler: hooked while it runs (its signal is there after an await), not after it settled", async (t) => {
    const scheduler = new HandlerScheduler(2);
    const inside = await scheduler.run("!a", async () => {
      await turn();
      return { hooked: hooked(), signal: handlerSignal() };
    }, never);
    if (!inside.hooked) return t.skip("this Node's AsyncLocalStorage uses no promise hooks");
    assert.equal(inside.signal, never);
    await turn();
    assert.equal(hooked(), false);
    // A send scope outside any handler (a reply sent later, from a timer) is counted the same way.
    const sends = await new SendSequence("$e").run(async () => (await turn(), hooked()));
    assert.equal(sends, true);
    await turn();
    assert.equal(hooked(), false);
  });

  test("a handler that throws, synchronously or not, leaves no context behind", async (t) => {
    const scheduler = new HandlerScheduler(2);
    if (!(await scheduler.run("!a", async () => hooked(), never))) return t.skip("this Node's AsyncLocalStorage uses no promise hooks");
    await assert.rejects(scheduler.run("!a", () => { throw new Error("sync"); }, never));
    await assert.rejects(scheduler.run("!a", async () => { await turn(); throw new Error("async"); }, never));
    await turn();
    assert.equal(hooked(), false);
  });

  test("the sync engine: the next poll and the batch's bookkeeping run without the context", async (t) => {
    const ME = "@bot:x.org";
    const BATCHES = 5;
    const inHandler: boolean[] = [];
    const atPoll: boolean[] = [];
    let sent = 0;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const source: SyncSource = {
      async next(since, _timeoutMs, signal): Promise<SourceBatch> {
        // The poll is made once the previous batch's handlers finished (the engine waits for them).
        if (since !== undefined) atPoll.push(hooked());
        if (sent >= BATCHES) {
          finished();
          await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));
        }
        const n = sent++;
        const event = { type: "m.room.message", event_id: `$m${n}`, sender: "@alice:x.org", origin_server_ts: n, content: { msgtype: "m.text", body: `hi ${n}` } };
        const join = n === 0 ? {} : { "!r:x.org": { timeline: { events: [event], limited: false } } };
        return { response: { next_batch: `s${n}`, rooms: { join } } as unknown as SyncResponse };
      },
    };
    const engine = new SyncEngine({
      api: {} as MatrixApi,
      store: new MemoryStore(),
      tracker: new RoomTracker(ME),
      source,
      logger: silentLogger,
      sink: {
        onEvent: async () => {
          await turn();
          inHandler.push(hooked() && handlerSignal() !== undefined);
        },
        onInvite: () => undefined,
        onJoin: () => undefined,
        onLeave: () => undefined,
        onSyncError: (error) => assert.fail(error as Error),
        onFatal: (error) => assert.fail(error as Error),
      },
    });
    await engine.start();
    await done;
    await engine.stop();
    if (!inHandler.some(Boolean)) return t.skip("this Node's AsyncLocalStorage uses no promise hooks");
    assert.deepEqual(inHandler, new Array(BATCHES - 1).fill(true));
    assert.equal(atPoll.length, BATCHES);
    assert.deepEqual(atPoll, new Array(BATCHES).fill(false));
  });
});
