/**
 * The work of one incremental batch does not grow with the rooms the bot is in: a bot in
 * 10 000 rooms pays for a reply what a bot in 20 rooms pays. Counted, not timed: after the
 * initial sync, nothing walks the room map, and each batch hands the store only what the
 * batch changed. The batches come from a scripted {@link SyncSource} (the engine's own seam
 * for where batches come from); the engine, tracker and memory store are the real ones.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { RoomSummary, SyncResponse } from "../../src/api/types.js";
import type { MatrixApi } from "../../src/api/client.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { StoreChange } from "../../src/storage/store.js";
import { SyncEngine } from "../../src/sync/engine.js";
import type { SourceBatch, SyncSource } from "../../src/sync/source.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const ME = "@bot:x.org";
const BATCHES = 20;
const roomId = (i: number): string => `!r${i}:x.org`;

function initial(rooms: number): SyncResponse {
  const join: Record<string, unknown> = {};
  for (let i = 0; i < rooms; i++) {
    const ev = (n: number, type: string, content: Record<string, unknown>, stateKey = "") => ({ type, state_key: stateKey, content, event_id: `$${i}-${n}`, sender: ME, origin_server_ts: n });
    join[roomId(i)] = {
      summary: { "m.joined_member_count": 2, "m.invited_member_count": 0, "m.heroes": ["@alice:x.org"] },
      timeline: { events: [ev(0, "m.room.create", { room_version: "11" }), ev(1, "m.room.member", { membership: "join" }, ME), ev(2, "m.room.power_levels", { users: { [ME]: 100 } })], limited: false },
    };
  }
  return { next_batch: "s0", rooms: { join } } as unknown as SyncResponse;
}

/** Batch `n`: one message in one room, with the room's unchanged summary, as Synapse sends it. */
function incremental(n: number, rooms: number): SyncResponse {
  const event = { type: "m.room.message", event_id: `$m${n}`, sender: "@alice:x.org", origin_server_ts: 10 + n, content: { msgtype: "m.text", body: `hello ${n}` } };
  const summary = { "m.joined_member_count": 2, "m.invited_member_count": 0, "m.heroes": ["@alice:x.org"] };
  return { next_batch: `s${n}`, rooms: { join: { [roomId((n * 7) % rooms)]: { summary, timeline: { events: [event], limited: false } } } } } as unknown as SyncResponse;
}

/** Counts every walk over a map (values, keys, entries, forEach, spread or for-of). */
function countWalks(map: Map<string, unknown>): { walks: number } {
  const counter = { walks: 0 };
  for (const name of ["values", "keys", "entries", "forEach", Symbol.iterator] as const) {
    const original = (map as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>)[name]!;
    Object.defineProperty(map, name, { value: (...args: unknown[]) => (counter.walks++, original.apply(map, args)) });
  }
  return counter;
}

/** Runs an engine through the initial sync of `rooms` rooms and {@link BATCHES} incremental batches. */
async function run(rooms: number): Promise<{ walks: number; changesPerCommit: number[] }> {
  const tracker = new RoomTracker(ME);
  const changesPerCommit: number[] = [];
  let counting = false;
  class CountingStore extends MemoryStore {
    override async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
      if (counting) changesPerCommit.push(changes.length);
      await super.commitSync(token, changes);
    }
  }
  let walks: { walks: number } | undefined;
  let handled = 0;
  let allHandled!: () => void;
  const done = new Promise<void>((resolve) => (allHandled = resolve));
  let sent = 0;
  const source: SyncSource = {
    async next(since, _timeoutMs, signal): Promise<SourceBatch> {
      if (since === undefined) return { response: initial(rooms) };
      // From here on, every walk over the room map counts (the initial sync's commit is in).
      if (!counting) {
        counting = true;
        walks = countWalks(tracker.rooms as Map<string, unknown>);
      }
      if (sent >= BATCHES) await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));
      return { response: incremental(++sent, rooms) };
    },
  };
  const engine = new SyncEngine({
    api: {} as MatrixApi,
    store: new CountingStore(),
    tracker,
    source,
    logger: silentLogger,
    sink: {
      onEvent: () => void (++handled === BATCHES && allHandled()),
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
  assert.equal(tracker.rooms.size, rooms);
  return { walks: walks?.walks ?? -1, changesPerCommit };
}

describe("an incremental batch's cost does not depend on the number of rooms", () => {
  test("20 rooms and 2000 rooms: no walk over the room map, and no store change for a message or an unchanged summary", async () => {
    const small = await run(20);
    const large = await run(2000);
    assert.equal(small.walks, 0);
    assert.equal(large.walks, 0);
    // Each commit after the initial sync carries only the batch's own changes: none for a message.
    assert.ok(large.changesPerCommit.length > 0, "the positions were saved");
    assert.deepEqual([...new Set(large.changesPerCommit)], [0]);
    assert.deepEqual([...new Set(small.changesPerCommit)], [0]);
  });
});

describe("a room summary compared field by field", () => {
  test("records a change exactly when the summary's JSON would differ (the comparison it replaces), for any sequence", () => {
    const heroes = fc.oneof(fc.constant(undefined), fc.array(fc.constantFrom("@a:x", "@b:x"), { maxLength: 3 }), fc.constant([1] as unknown as string[]));
    const count = fc.oneof(fc.constant(undefined), fc.nat(3));
    const summary = fc.record({ "m.heroes": heroes, "m.joined_member_count": count, "m.invited_member_count": count }) as fc.Arbitrary<RoomSummary>;
    fc.assert(
      fc.property(fc.array(summary, { maxLength: 6 }), (summaries) => {
        const tracker = new RoomTracker(ME);
        const room = tracker.ensureRoom("!a:x", "join");
        tracker.takeChanges();
        for (const s of summaries) {
          const before = JSON.stringify(room.summary);
          const expected = { ...room.summary };
          if (s["m.heroes"] !== undefined) expected.heroes = s["m.heroes"];
          if (s["m.joined_member_count"] !== undefined) expected.joined = s["m.joined_member_count"];
          if (s["m.invited_member_count"] !== undefined) expected.invited = s["m.invited_member_count"];
          tracker.applySummary(room, s);
          assert.equal(JSON.stringify(room.summary), JSON.stringify(expected));
          const changed = JSON.stringify(expected) !== before;
          // A hero list of non-strings may count as changed when equal: a harmless extra write.
          const bogus = Array.isArray(s["m.heroes"]) && s["m.heroes"].some((h) => typeof h !== "string");
          if (!bogus) assert.equal(tracker.takeChanges().length, changed ? 1 : 0);
          else tracker.takeChanges();
        }
      }),
    );
  });
});
