/**
 * The historical initial sync applied room by room as it is read, against the real Synapse: the
 * delivery guarantees of the whole-batch path hold for it. History is not news, the position is
 * saved only once the batch's handlers (here an invite's) finished, the first news after it is
 * handled once, and an answer cut off halfway through its rooms is fetched again without any
 * event running twice.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SyncEngine, type SyncSink } from "../../src/sync/engine.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { homeserver, newTestUser, type TestUser } from "../helpers/matrix.js";

/** Polls until `check` holds; fails the test after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A bot account in `rooms` rooms of a human, each with a name and some history. */
async function botWithHistory(rooms: number): Promise<{ human: TestUser; bot: TestUser; roomIds: string[]; history: string[] }> {
  const human = await newTestUser();
  const bot = await newTestUser("engine");
  const roomIds: string[] = [];
  const history: string[] = [];
  for (let i = 0; i < rooms; i++) {
    const roomId = await human.createRoom([bot.userId], { name: `room ${i}` });
    await bot.api.rooms.join(roomId);
    for (let n = 0; n < 3; n++) history.push(await human.send(roomId, `old ${i}.${n}`));
    roomIds.push(roomId);
  }
  return { human, bot, roomIds, history };
}

/** A sync engine for `account` with a memory store; records what it dispatches and what `beforeBatch` saw. */
async function engineFor(account: TestUser, sink: Partial<SyncSink> = {}, fetch?: FetchLike) {
  const hs = await homeserver();
  const store = new MemoryStore();
  const tracker = new RoomTracker(account.userId);
  const events: string[] = [];
  const batchRooms: string[][] = [];
  const engine = new SyncEngine({
    api: new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.account.accessToken, fetch }),
    store,
    tracker,
    initialBackoffMs: 10,
    maxBackoffMs: 20,
    sink: {
      beforeBatch: (response) => void batchRooms.push(Object.keys(response.rooms?.join ?? {})),
      onEvent: (_room, event) => void events.push(event.event_id),
      onInvite: () => undefined,
      onJoin: () => undefined,
      onLeave: () => undefined,
      onSyncError: () => undefined,
      onFatal: () => undefined,
      ...sink,
    },
  });
  return { engine, store, tracker, events, batchRooms };
}

describe("historical initial sync, room by room (real Synapse)", () => {
  test("rooms applied as read, history not news, the position saved after the invite's handler, the first news handled once", async () => {
    const { human, bot, roomIds, history } = await botWithHistory(4);
    const invitedTo = await human.createRoom([bot.userId], { name: "pending" });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const invites: string[] = [];
    const { engine, store, tracker, events, batchRooms } = await engineFor(bot, {
      onInvite: async (room) => {
        invites.push(room.roomId);
        await held;
      },
    });
    await engine.start();
    // Every joined room was taken while the answer was read: none is left in the batch.
    assert.deepEqual(batchRooms[0], []);
    for (const [i, roomId] of roomIds.entries()) {
      const room = tracker.rooms.get(roomId);
      assert.equal(room?.membership, "join");
      assert.equal(room?.getStateEvent("m.room.name", "")?.content.name, `room ${i}`);
    }
    assert.equal(tracker.rooms.get(invitedTo)?.membership, "invite");
    await until("the invite's handler runs", () => invites.length === 1);
    assert.equal(await store.getSyncToken(), undefined, "no position saved while a handler of the batch runs");
    release();
    await until("the position is saved once the handler finished", async () => (await store.getSyncToken()) !== undefined);
    assert.deepEqual(events.filter((id) => history.includes(id)), [], "history is not news");

    const news = await human.send(roomIds[2]!, "news");
    await until("the news is handled", () => events.includes(news));
    await human.send(roomIds[2]!, "more news");
    await until("the next news is handled", () => events.length === 2);
    await engine.stop();
    assert.equal(events.filter((id) => id === news).length, 1);
    assert.deepEqual(events.filter((id) => history.includes(id)), []);
  });

  test("an answer cut off halfway through its rooms is fetched again: every room applied, nothing dispatched twice", async () => {
    const { human, bot, roomIds, history } = await botWithHistory(6);
    let cut = 0;
    // The first initial sync loses its connection after half of its bytes (a real network drop mid-body).
    const cutting: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      const url = new URL(input);
      if (cut > 0 || !url.pathname.endsWith("/sync") || url.searchParams.has("since") || !response.body) return response;
      cut++;
      const bytes = new Uint8Array(await response.arrayBuffer());
      const half = bytes.subarray(0, Math.floor(bytes.length / 2));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
          controller.error(new TypeError("terminated (injected: connection reset mid-body)"));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const syncErrors: unknown[] = [];
    const { engine, store, tracker, events, batchRooms } = await engineFor(bot, { onSyncError: (error) => void syncErrors.push(error) }, cutting);
    await engine.start();
    assert.equal(cut, 1);
    assert.deepEqual(batchRooms[0], [], "the rooms were taken as they were read");
    assert.equal(syncErrors.length, 1, "the cut answer failed its read and was fetched again");
    for (const roomId of roomIds) assert.equal(tracker.rooms.get(roomId)?.membership, "join");
    await until("the position is saved", async () => (await store.getSyncToken()) !== undefined);
    const news = await human.send(roomIds[5]!, "news");
    await until("the news is handled", () => events.includes(news));
    await engine.stop();
    assert.deepEqual(events, [news], "only the news ran, once");
    assert.ok(history.length > 0);
  });
});
