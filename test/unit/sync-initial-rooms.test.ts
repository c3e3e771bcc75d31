/**
 * The historical initial sync applied room by room as its body is read (`SyncEngine`'s
 * `#takeHistoricalRoom`, `JoinedRoomSink` in `src/api/sync-body.ts`): the parsed rooms of the
 * whole answer never exist at once, only what the bot keeps of them. The body comes from a
 * scripted `fetch` as a stream (the engine, `MatrixApi`, `HttpClient`, the reader, the tracker and
 * the memory store are the real ones); the delivery guarantees against the real Synapse are in
 * `test/integration/sync-initial-rooms.test.ts`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import { SyncBodyParser } from "../../src/api/sync-body.js";
import type { SyncResponse } from "../../src/api/types.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SyncEngine, type SyncSink } from "../../src/sync/engine.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const ME = "@bot:x.org";
const roomId = (i: number): string => `!room${i}:x.org`;
const encoder = new TextEncoder();

/**
 * One joined room as Synapse sends it on a first start: its state in the timeline, and a history
 * of messages (which the bot does not keep: history is not news).
 */
function roomJson(i: number, messages: number, encrypted = false): string {
  const ev = (n: number, type: string, content: Record<string, unknown>, stateKey?: string, sender = ME) =>
    ({ type, ...(stateKey === undefined ? {} : { state_key: stateKey }), content, event_id: `$e${i}-${n}:x.org`, sender, origin_server_ts: 1_700_000_000_000 + n, unsigned: { age: 1000 + n } });
  const events = [
    ev(0, "m.room.create", { room_version: "10", creator: ME }, ""),
    ev(1, "m.room.member", { membership: "join", displayname: "bot" }, ME),
    ev(2, "m.room.power_levels", { users: { [ME]: 100 }, events_default: 0 }, ""),
    ...(encrypted ? [ev(3, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" }, "")] : []),
  ];
  for (let n = 0; n < messages; n++)
    events.push(ev(10 + n, "m.room.message", { msgtype: "m.text", body: `message ${n} of room ${i}: ${"lorem ipsum dolor sit amet ".repeat(8)}` }, undefined, "@alice:x.org"));
  return JSON.stringify({
    summary: { "m.joined_member_count": 1, "m.invited_member_count": 0, "m.heroes": [] },
    timeline: { events, limited: messages > 0, prev_batch: `p${i}` },
    state: { events: [] },
    account_data: { events: [{ type: "m.tag", content: { tags: {} } }] },
  });
}

/** An initial sync body of `rooms` rooms, made and sent room by room (the test never holds it whole). */
function initialBody(rooms: number, messages: number, atEnd: () => void, encrypted: (i: number) => boolean = () => false): ReadableStream<Uint8Array> {
  let i = -1;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === -1) controller.enqueue(encoder.encode(`{"next_batch":"s1","account_data":{"events":[]},"rooms":{"join":{`));
      else if (i < rooms) controller.enqueue(encoder.encode(`${i > 0 ? "," : ""}${JSON.stringify(roomId(i))}:${roomJson(i, messages, encrypted(i))}`));
      else if (i === rooms) controller.enqueue(encoder.encode(`},"invite":{},"leave":{}}`));
      else {
        atEnd();
        controller.enqueue(encoder.encode(`}`));
        controller.close();
      }
      i++;
    },
  });
}

/** A bot's sync engine whose first `/sync` streams `body`; later polls hang until stopped. */
function engineFor(body: () => ReadableStream<Uint8Array>, sink: Partial<SyncSink> = {}, options: { ignoreOldEvents?: boolean } = {}) {
  let first = true;
  const fetch: FetchLike = async (input, init) => {
    if (new URL(input).pathname.endsWith("/sync") && first) {
      first = false;
      return new Response(body(), { status: 200, headers: { "content-type": "application/json" } });
    }
    return new Promise<Response>((_resolve, reject) => init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }));
  };
  const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger });
  const tracker = new RoomTracker(ME);
  const store = new MemoryStore();
  const events: string[] = [];
  const engine = new SyncEngine({
    api,
    store,
    tracker,
    logger: silentLogger,
    sink: {
      onEvent: (_room, event) => void events.push(event.event_id),
      onInvite: () => undefined,
      onJoin: () => undefined,
      onLeave: () => undefined,
      onSyncError: () => undefined,
      onFatal: () => undefined,
      ...sink,
    },
    ...options,
  });
  return { engine, tracker, store, events };
}

describe("a historical initial sync applied room by room", () => {
  test("the heap at the end of the read holds what the bot keeps of each room, not its parsed history", async (t) => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = (): number => (gc(), process.memoryUsage().heapUsed);
    const ROOMS = 2000;
    // 20 messages of about 300 bytes: some 9 KB of JSON per room, about 7 KB of it history.
    const MESSAGES = 20;
    let atEnd = 0;
    let before = 0;
    const { engine, tracker, events } = engineFor(() => initialBody(ROOMS, MESSAGES, () => (atEnd = heap())));
    before = heap();
    await engine.start();
    const ready = heap();
    await engine.stop();
    assert.equal(tracker.rooms.size, ROOMS);
    assert.equal(tracker.rooms.get(roomId(ROOMS - 1))?.powerLevels?.users?.[ME], 100);
    assert.deepEqual(events, [], "history is not news");
    const perRoomAtEnd = (atEnd - before) / ROOMS;
    const perRoomReady = (ready - before) / ROOMS;
    t.diagnostic(`${Math.round(perRoomAtEnd)} bytes a room at the end of the read, ${Math.round(perRoomReady)} once ready`);
    // Holding the parsed rooms until the whole answer was read cost about 12.9 KB a room here; what
    // the tracker and the memory store keep of these rooms (account data maps included) is about 2.5 KB.
    assert.ok(perRoomAtEnd < 4_000, `${Math.round(perRoomAtEnd)} bytes a room held at the end of the read (${Math.round(perRoomReady)} once ready)`);
  });

  test("encrypted rooms stay in the batch for beforeBatch (the crypto layer reads their members); the others are applied as read", async () => {
    const seen: string[][] = [];
    const { engine, tracker, events } = engineFor(() => initialBody(6, 2, () => undefined, (i) => i % 3 === 0), {
      beforeBatch: (response) => void seen.push(Object.keys(response.rooms?.join ?? {})),
    });
    await engine.start();
    await engine.stop();
    assert.deepEqual(seen, [[roomId(0), roomId(3)]]);
    assert.equal(tracker.rooms.size, 6);
    for (let i = 0; i < 6; i++) {
      const room = tracker.rooms.get(roomId(i))!;
      assert.equal(room.membership, "join");
      assert.equal(room.isEncrypted, i % 3 === 0, roomId(i));
      assert.deepEqual(room.accountData.get("m.tag"), { tags: {} });
      assert.equal(room.summary.joined, 1);
    }
    assert.deepEqual(events, []);
  });

  test("with ignoreOldEvents: false the initial timeline is dispatched, so the batch is applied whole", async () => {
    const seen: number[] = [];
    const { engine, store, events } = engineFor(() => initialBody(3, 2, () => undefined), {
      beforeBatch: (response) => void seen.push(Object.keys(response.rooms?.join ?? {}).length),
    }, { ignoreOldEvents: false });
    await engine.start();
    // The position is saved once every handler of the batch finished.
    while ((await store.getSyncToken()) !== "s1") await new Promise((resolve) => setTimeout(resolve, 5));
    await engine.stop();
    assert.deepEqual(seen, [3]);
    assert.equal(events.length, 3 * 5);
  });

  test("the token is saved only once the batch is processed, after its rooms were applied", async () => {
    const at: { rooms?: number; token?: Promise<string | undefined> } = {};
    const made: { store?: MemoryStore; tracker?: RoomTracker } = {};
    const { engine, store, tracker } = engineFor(() =>
      initialBody(50, 1, () => {
        // As the last byte is asked for: every room applied, no position saved yet.
        at.rooms = made.tracker!.rooms.size;
        at.token = made.store!.getSyncToken();
      }),
    );
    Object.assign(made, { store, tracker });
    await engine.start();
    await engine.stop();
    assert.equal(at.rooms, 50);
    assert.equal(await at.token, undefined);
    assert.equal(await store.getSyncToken(), "s1");
  });
});

describe("SyncBodyParser with a room sink", () => {
  const roomValue = fc.oneof(
    fc.constant({}),
    fc.record({ timeline: fc.record({ events: fc.array(fc.record({ type: fc.string(), content: fc.dictionary(fc.string(), fc.string()) }), { maxLength: 3 }) }) }),
    fc.string(),
    fc.integer(),
    fc.constant(null),
  );
  test("taken rooms are given in order and left out; the rest is what JSON.parse gives", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ unit: "binary", maxLength: 12 }), roomValue, fc.boolean()), { selector: ([k]) => k, maxLength: 8 }),
        fc.dictionary(fc.constantFrom("next_batch", "account_data", "to_device"), fc.jsonValue()),
        fc.array(fc.nat(), { maxLength: 6 }),
        (rooms, rest, cuts) => {
          const join = Object.fromEntries(rooms.map(([k, v]) => [k, v]));
          const text = JSON.stringify({ ...rest, rooms: { invite: {}, join, leave: {} } });
          const bytes = encoder.encode(text);
          const taken: [string, unknown][] = [];
          const take = new Set(rooms.filter(([, , t]) => t).map(([k]) => k));
          const parser = new SyncBodyParser((key, value) => (taken.push([key, value]), take.has(key)));
          let at = 0;
          for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
            parser.push(bytes.subarray(at, Math.max(at, cut)));
            at = Math.max(at, cut);
          }
          parser.push(bytes.subarray(at));
          const got = parser.end() as SyncResponse;
          const expected = JSON.parse(text) as { rooms: { join: Record<string, unknown> } };
          for (const key of take) delete expected.rooms.join[key];
          assert.deepEqual(got, expected);
          assert.deepEqual(taken, rooms.map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]));
        },
      ),
    );
  });
});
