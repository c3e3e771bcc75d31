/**
 * What the message cache costs per event and that it stays bounded: a busy bot fills it within
 * minutes and holds it for its whole life (the peak RSS at 20 users in bench/README.md).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ClientEvent } from "../../src/api/events.js";
import { MessageCache } from "../../src/messaging/cache.js";

const ROOM = "!GxVnWbqLkDhsFyTcAz:matrix.example.org";

/** A message as Synapse sends it in /sync, parsed from JSON as the HTTP client does (its own strings). */
function wireEvent(i: number, body = `!ping number ${i}`): ClientEvent {
  return JSON.parse(JSON.stringify({
    type: "m.room.message",
    sender: `@user${i % 20}:matrix.example.org`,
    content: { msgtype: "m.text", body, "m.mentions": {} },
    origin_server_ts: 1_764_460_800_000 + i,
    unsigned: { membership: "join", age: 120 + i },
    event_id: `$${String(i).padStart(6, "0")}QmT7xKpZcRbVnLwYdHsFgEjUo3Aa9Ci`,
    room_id: ROOM,
  })) as ClientEvent;
}

describe("MessageCache memory", () => {
  test("a cached message costs under 700 bytes of heap, so the default 1000 events hold well under 1 MB", () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = (): number => (gc(), gc(), process.memoryUsage().heapUsed);
    const n = 5000;
    const cache = new MessageCache(n);
    // The first puts compile the code and grow the map's table: measured from a warm, full cache.
    for (let i = 0; i < n; i++) cache.put(wireEvent(i));
    const before = heap();
    cache.clear();
    const empty = heap();
    for (let i = 0; i < n; i++) cache.put(wireEvent(i));
    const full = heap();
    const perEvent = (full - empty) / n;
    assert.ok(before - empty > 0, "the cache held something");
    assert.equal(cache.size, n);
    // Measured on Node 20: 580 bytes as JSON text, 560 as the copied object tree it replaced
    // (the copy shared its strings with the parsed event). A pin, not a regression test.
    assert.ok(perEvent < 700, `${perEvent.toFixed(0)} bytes per cached event`);
  });

  test("the whole cache is bounded in characters as well as in events: large events evict old ones, one over the bound is not kept", () => {
    const cache = new MessageCache(1000, 10_000);
    for (let i = 0; i < 20; i++) cache.put(wireEvent(i, "x".repeat(2_000)));
    assert.ok(cache.chars <= 10_000, `${cache.chars} characters`);
    assert.ok(cache.size < 10 && cache.size > 0, `${cache.size} events`);
    assert.ok(cache.get(ROOM, wireEvent(19).event_id), "the newest stays");
    assert.equal(cache.get(ROOM, wireEvent(0).event_id), undefined, "the oldest went");
    cache.put(wireEvent(100, "y".repeat(20_000)));
    assert.equal(cache.get(ROOM, wireEvent(100).event_id), undefined);
    assert.ok(cache.get(ROOM, wireEvent(19).event_id), "an event too large to keep evicts nothing");
    // The count matches what is held after every kind of change.
    cache.delete(wireEvent(19).event_id);
    const held = [...Array(20).keys()].map((i) => cache.get(ROOM, wireEvent(i).event_id)).filter((e) => e !== undefined);
    assert.equal(cache.chars, held.reduce((sum, e) => sum + JSON.stringify(e).length, 0));
    cache.clear();
    assert.equal(cache.chars, 0);
  });

  test("a read is a copy, the event put is not held (the caller may change or drop it)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const cache = new MessageCache(10);
    let event: ClientEvent | undefined = wireEvent(1);
    const ref = new WeakRef(event);
    cache.put(event);
    event.content.body = "changed after put";
    event = undefined;
    // A WeakRef keeps its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(ref.deref(), undefined, "the cache keeps no reference to the object it was given");
    const read = cache.get(ROOM, wireEvent(1).event_id);
    assert.equal(read?.content.body, "!ping number 1");
    (read as ClientEvent).content.body = "changed after get";
    assert.equal(cache.get(ROOM, wireEvent(1).event_id)?.content.body, "!ping number 1");
  });
});
