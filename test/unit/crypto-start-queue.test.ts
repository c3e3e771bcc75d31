/**
 * The crypto start queue (`src/crypto/start-queue.ts`) with a recording stand-in for the machine:
 * batches before the machine is open are fed to it in order once it is, each batch's gate opens
 * only after its feed, later batches go straight to it, a stop feeds nothing more, and events
 * wait for the machine unless their room is known to be unencrypted (fail closed).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { SyncResponse } from "../../src/api/types.js";
import type { BotCrypto } from "../../src/crypto/crypto.js";
import { CryptoStartQueue, cryptoPart } from "../../src/crypto/start-queue.js";
import type { BatchGate } from "../../src/sync/engine.js";
import type { Room } from "../../src/sync/room.js";
import { gate } from "../helpers/fake-transport.js";

/** What the stand-in machine was fed and whether it was closed. */
function machine(): { crypto: BotCrypto; fed: string[]; closed: () => number; hold: (token: string) => () => void } {
  const fed: string[] = [];
  const holds = new Map<string, Promise<void>>();
  let closed = 0;
  const crypto = {
    beforeBatch: async (response: SyncResponse) => {
      await holds.get(response.next_batch);
      fed.push(response.next_batch);
    },
    close: async () => void closed++,
  } as unknown as BotCrypto;
  const hold = (token: string): (() => void) => {
    const g = gate();
    holds.set(token, g.promise);
    return () => g.open();
  };
  return { crypto, fed, closed: () => closed, hold };
}

const batch = (next: string, extra: Partial<SyncResponse> = {}): SyncResponse => ({ next_batch: next, ...extra });
const room = (roomId: string): Room => ({ roomId }) as Room;
const message = (type = "m.room.message"): ClientEvent => ({ event_id: "$e", type, sender: "@a:x", origin_server_ts: 1, room_id: "!r:x", content: { msgtype: "m.text", body: "hi" } });
const settledYet = async (p: Promise<unknown>): Promise<boolean> => {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
};

describe("CryptoStartQueue", () => {
  test("batches before the machine is open are fed in order once it is; each gate opens after its own feed; then straight through", async () => {
    const m = machine();
    const opening = gate<BotCrypto>();
    const queue = new CryptoStartQueue(opening.promise, async () => undefined);
    const first = queue.beforeBatch(batch("t1"), true) as BatchGate;
    const second = queue.beforeBatch(batch("t2"), false) as BatchGate;
    assert.ok("consumed" in first && "consumed" in second, "gates while the machine opens");
    assert.equal(await settledYet(first.consumed), false);
    const releaseT1 = m.hold("t1");
    opening.open(m.crypto);
    assert.equal(await settledYet(first.consumed), false, "not before its feed finished");
    // A batch that comes while the queue is being fed joins it.
    const third = queue.beforeBatch(batch("t3"), false) as BatchGate;
    assert.ok("consumed" in third);
    releaseT1();
    await Promise.all([first.consumed, second.consumed, third.consumed]);
    assert.deepEqual(m.fed, ["t1", "t2", "t3"]);
    assert.equal(await queue.ready, m.crypto);
    assert.equal(queue.crypto, m.crypto);
    const direct = queue.beforeBatch(batch("t4"), false);
    assert.ok(direct instanceof Promise, "straight to the machine once it caught up");
    await direct;
    assert.deepEqual(m.fed, ["t1", "t2", "t3", "t4"]);
  });

  test("a failed feed fails its gate and every later one, and ready", async () => {
    const crypto = { beforeBatch: async () => Promise.reject(new Error("disk full")), close: async () => undefined } as unknown as BotCrypto;
    const queue = new CryptoStartQueue(Promise.resolve(crypto), async () => undefined);
    const first = queue.beforeBatch(batch("t1"), true) as BatchGate;
    const second = queue.beforeBatch(batch("t2"), false) as BatchGate;
    await assert.rejects(first.consumed, /disk full/);
    await assert.rejects(second.consumed, /disk full/);
    await assert.rejects(queue.ready, /disk full/);
  });

  test("a stop feeds nothing more: the gates stay closed, ready fails at once, and the machine that opens later is closed", async () => {
    const m = machine();
    const opening = gate<BotCrypto>();
    const queue = new CryptoStartQueue(opening.promise, async () => undefined);
    const first = queue.beforeBatch(batch("t1"), true) as BatchGate;
    queue.abandon();
    await assert.rejects(queue.ready, /stopped/);
    const later = queue.beforeBatch(batch("t2"), false) as BatchGate;
    const closing = queue.close();
    opening.open(m.crypto);
    await closing;
    assert.deepEqual(m.fed, [], "nothing fed after the stop");
    assert.equal(m.closed(), 1);
    assert.equal(await settledYet(first.consumed), false, "the position stays before the batch");
    assert.equal(await settledYet(later.consumed), false);
  });

  test("events wait for the machine unless their room is known to be unencrypted; a room that cannot be told waits too", async () => {
    const m = machine();
    const opening = gate<BotCrypto>();
    const rooms: Record<string, () => Promise<unknown>> = {
      "!plain:x": async () => undefined,
      "!secret:x": async () => ({ algorithm: "m.megolm.v1.aes-sha2" }),
      "!unknown:x": async () => Promise.reject(new Error("403")),
    };
    const queue = new CryptoStartQueue(opening.promise, (roomId) => rooms[roomId]!());
    assert.equal(await queue.machineFor(room("!plain:x"), message()), undefined, "a known unencrypted room goes on at once");
    const waits = [
      queue.machineFor(room("!secret:x"), message()),
      queue.machineFor(room("!unknown:x"), message()),
      queue.machineFor(room("!plain:x"), message("m.room.encrypted")),
      queue.machineFor(room("!plain:x"), { ...message("m.key.verification.start"), content: {} }),
    ];
    for (const w of waits) assert.equal(await settledYet(w), false);
    opening.open(m.crypto);
    for (const w of waits) assert.equal(await w, m.crypto);
    assert.equal(await queue.machineFor(room("!plain:x"), message()), m.crypto, "once open, every event gets it");
  });

  test("the queued part of a batch keeps what the machine reads and no other timeline", () => {
    const member = { event_id: "$m", type: "m.room.member", state_key: "@b:x", sender: "@b:x", origin_server_ts: 1, content: { membership: "join" } };
    const text = { event_id: "$t", type: "m.room.message", sender: "@b:x", origin_server_ts: 1, content: { body: "x".repeat(1000) } };
    const response = {
      next_batch: "t9",
      to_device: { events: [{ type: "m.room.encrypted", sender: "@b:x", content: {} }] },
      device_lists: { changed: ["@b:x"], left: ["@c:x"] },
      device_one_time_keys_count: { signed_curve25519: 50 },
      device_unused_fallback_key_types: ["signed_curve25519"],
      account_data: { events: [{ type: "m.direct", content: {} }] },
      rooms: { join: { "!r:x": { state: { events: [member] }, timeline: { events: [text, member] } }, "!quiet:x": {} }, leave: { "!gone:x": { timeline: { events: [text] } } } },
    } as unknown as SyncResponse;
    const part = cryptoPart(response);
    assert.deepEqual(part, {
      next_batch: "t9",
      to_device: response.to_device,
      device_lists: response.device_lists,
      device_one_time_keys_count: response.device_one_time_keys_count,
      device_unused_fallback_key_types: response.device_unused_fallback_key_types,
      rooms: { join: { "!r:x": { state: { events: [member] }, timeline: { events: [member] } }, "!quiet:x": { state: { events: [] }, timeline: { events: [] } } }, leave: { "!gone:x": {} } },
    });
  });
});
