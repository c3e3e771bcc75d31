/**
 * What the bot keeps per room, and the memory store's compact per-room records: a bot in
 * 10 000 rooms holds this 10 000 times (bench/README.md gives the bytes per room).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import type { StateEvent } from "../../src/api/events.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { StoreChange, StoredRooms } from "../../src/storage/store.js";
import { Room } from "../../src/sync/room.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const ME = "@bot:x.org";

/** The timeline of a room the bot created with the private_chat preset, as Synapse sends it. */
function createdRoom(roomId: string): StateEvent[] {
  const ev = (n: number, type: string, content: Record<string, unknown>, stateKey = ""): StateEvent =>
    ({ type, state_key: stateKey, content, event_id: `$${roomId}${n}`, sender: ME, origin_server_ts: n, room_id: roomId }) as StateEvent;
  return [
    ev(0, "m.room.create", { room_version: "11" }),
    ev(1, "m.room.member", { membership: "join", displayname: "bot" }, ME),
    ev(2, "m.room.power_levels", { users: { [ME]: 100 }, state_default: 50 }),
    ev(3, "m.room.join_rules", { join_rule: "invite" }),
    ev(4, "m.room.history_visibility", { history_visibility: "shared" }),
    ev(5, "m.room.guest_access", { guest_access: "can_join" }),
    ev(6, "m.room.topic", { topic: "not needed by any feature" }),
  ];
}

describe("state kept per room", () => {
  test("only the types the features read: create, members, power levels, join rules (no history visibility, guest access, topic); no account data map", () => {
    const tracker = new RoomTracker(ME);
    const room = tracker.ensureRoom("!a:x.org", "join");
    for (const event of createdRoom("!a:x.org")) tracker.applyState(room, event);
    assert.deepEqual(room.stateTypes().sort(), ["m.room.create", "m.room.join_rules", "m.room.member", "m.room.power_levels"]);
    assert.deepEqual([...room.stateOfType("m.room.member").keys()], [ME]);
    assert.deepEqual(room.members().map((m) => m.userId), [ME]);
    // Kept as the compact record the store writes, not the event as parsed (no unsigned, no room id, no timestamp).
    assert.deepEqual(Object.keys(room.getStateEvent("m.room.member", ME) ?? {}).sort(), ["content", "eventId", "sender", "stateKey", "type"]);
    assert.equal(room.getAccountData("m.tag"), undefined);
    assert.equal(Object.getOwnPropertyNames(room).includes("accountData"), false, "no account data map until the room has some");
  });
});

/** The old memory store's semantics: one flat map per kind, keyed by room, type and state key. */
function reference(changes: readonly StoreChange[]): StoredRooms {
  const rooms = new Map<string, StoredRooms["rooms"][number]>();
  const state = new Map<string, StoredRooms["state"][number]>();
  const data = new Map<string, StoredRooms["accountData"][number]>();
  for (const c of changes) {
    if (c.kind === "room") {
      if (c.info) rooms.set(c.roomId, c.info);
      else {
        rooms.delete(c.roomId);
        for (const [k, v] of state) if (v.roomId === c.roomId) state.delete(k);
        for (const [k, v] of data) if (v.roomId === c.roomId) data.delete(k);
      }
    } else if (c.kind === "state") {
      const k = JSON.stringify([c.roomId, c.type, c.stateKey]);
      if (c.event) state.set(k, { ...c.event, roomId: c.roomId });
      else state.delete(k);
    } else {
      const k = JSON.stringify([c.roomId ?? "", c.type]);
      if (c.content) data.set(k, { roomId: c.roomId, type: c.type, content: c.content });
      else data.delete(k);
    }
  }
  return { rooms: [...rooms.values()], state: [...state.values()], accountData: [...data.values()] };
}

const sorted = (r: StoredRooms): unknown => ({
  rooms: r.rooms.map((x) => JSON.stringify(x)).sort(),
  state: r.state.map((x) => JSON.stringify([x.roomId, x.type, x.stateKey, x.sender, x.eventId, x.content])).sort(),
  accountData: r.accountData.map((x) => JSON.stringify([x.roomId ?? null, x.type, x.content])).sort(),
});

describe("MemoryStore's per-room records", () => {
  const roomId = fc.constantFrom("!a:x", "!b:x", "!c:x");
  // Types and keys chosen so that a naive "type + key" join could collide ("m.x" + "" vs "m" + ".x").
  const type = fc.constantFrom("m.x", "m", "m.room.member");
  const stateKey = fc.constantFrom("", ".x", "@u:x", "@v:x");
  const change: fc.Arbitrary<StoreChange> = fc.oneof(
    fc.record({ kind: fc.constant("room" as const), roomId, info: fc.option(fc.constantFrom("join", "leave").map((m) => m as "join" | "leave"), { nil: undefined }) }).map((c) => ({
      kind: "room" as const, roomId: c.roomId, info: c.info ? { roomId: c.roomId, membership: c.info } : undefined,
    })),
    fc.record({ kind: fc.constant("state" as const), roomId, type, stateKey, n: fc.option(fc.nat(9), { nil: undefined }) }).map((c) => ({
      kind: "state" as const, roomId: c.roomId, type: c.type, stateKey: c.stateKey,
      event: c.n === undefined ? undefined : { type: c.type, stateKey: c.stateKey, sender: "@u:x", eventId: `$${c.n}`, content: { n: c.n } },
    })),
    fc.record({ kind: fc.constant("accountData" as const), roomId: fc.option(roomId, { nil: undefined }), type, n: fc.option(fc.nat(9), { nil: undefined }) }).map((c) => ({
      kind: "accountData" as const, roomId: c.roomId, type: c.type, content: c.n === undefined ? undefined : { n: c.n },
    })),
  );

  test("load what the flat maps of before loaded, for any sequence of changes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(change, { maxLength: 8 }), { maxLength: 6 }), async (batches) => {
        const store = new MemoryStore();
        await store.open();
        for (const [i, b] of batches.entries()) await store.commitSync(`s${i}`, b);
        assert.deepEqual(sorted(await store.loadRooms()), sorted(reference(batches.flat())));
      }),
    );
  });
});

describe("Room's one state map", () => {
  test("reads back what a map per type and key would, for any sequence of puts", () => {
    const type = fc.constantFrom("m.room.member", "m.room.name", "m.room", "m.room.member.x");
    const stateKey = fc.constantFrom("", "@u:x", "@v:x", ".member", "x");
    fc.assert(
      fc.property(fc.array(fc.tuple(type, stateKey, fc.nat(5))), (puts) => {
        const room = new Room("!a:x", "join");
        const model = new Map<string, Map<string, number>>();
        for (const [t, k, n] of puts) {
          room.putState({ type: t, stateKey: k, sender: "@u:x", eventId: `$${n}`, content: { n } });
          (model.get(t) ?? model.set(t, new Map()).get(t))?.set(k, n);
        }
        for (const t of ["m.room.member", "m.room.name", "m.room", "m.room.member.x"])
          for (const k of ["", "@u:x", "@v:x", ".member", "x"]) assert.deepEqual(room.getState(t, k), model.get(t)?.has(k) ? { n: model.get(t)?.get(k) } : undefined);
        assert.deepEqual(room.stateTypes().sort(), [...model.keys()].sort());
        for (const [t, byKey] of model) assert.deepEqual([...room.stateOfType(t).keys()].sort(), [...byKey.keys()].sort());
        assert.deepEqual(room.members().map((m) => m.userId).sort(), [...(model.get("m.room.member")?.keys() ?? [])].sort());
      }),
    );
  });
});

describe("per-room records kept small", () => {
  test("rooms with the same summary and no heroes share one frozen summary; heroes or other counts get their own", () => {
    const tracker = new RoomTracker(ME);
    const [a, b, c, d] = ["!a:x", "!b:x", "!c:x", "!d:x"].map((id) => tracker.ensureRoom(id, "join")) as [Room, Room, Room, Room];
    const own = { "m.heroes": [], "m.joined_member_count": 1, "m.invited_member_count": 0 };
    tracker.applySummary(a, { ...own, "m.heroes": [] });
    tracker.applySummary(b, { ...own, "m.heroes": [] });
    tracker.applySummary(c, { ...own, "m.heroes": ["@u:x"] });
    tracker.applySummary(d, { ...own, "m.joined_member_count": 2 });
    assert.equal(a.summary, b.summary, "one object for both");
    assert.ok(Object.isFrozen(a.summary) && Object.isFrozen(a.summary.heroes));
    assert.deepEqual(a.summary, { heroes: [], joined: 1, invited: 0 });
    assert.deepEqual(c.summary, { heroes: ["@u:x"], joined: 1, invited: 0 });
    assert.deepEqual(d.summary, { heroes: [], joined: 2, invited: 0 });
    assert.notEqual(c.summary, a.summary);
    assert.notEqual(d.summary, a.summary);
    // A later change replaces the shared object, never changes it in place.
    tracker.applySummary(a, { "m.joined_member_count": 3 });
    assert.deepEqual(b.summary, { heroes: [], joined: 1, invited: 0 });
    assert.deepEqual(a.summary, { heroes: [], joined: 3, invited: 0 });
  });

  test("10 000 rooms of four state events each cost under 1 250 bytes apiece (1 530 with a map per room and store record) in the tracker and the memory store together", async () => {
    // The 10 000-room bench's rooms, for the heap measured over them (bench/README.md, "Memory per room").
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const tracker = new RoomTracker(ME);
    const store = new MemoryStore();
    const heap = (): number => (gc(), process.memoryUsage().heapUsed);
    const before = heap();
    for (let i = 0; i < 10_000; i++) {
      const id = `!${i.toString(36).padStart(18, "0")}:x.org`;
      const room = tracker.ensureRoom(id, "join");
      tracker.applySummary(room, { "m.heroes": [], "m.joined_member_count": 1, "m.invited_member_count": 0 });
      for (const event of JSON.parse(JSON.stringify(createdRoom(id))) as StateEvent[]) tracker.applyState(room, event);
      if (i % 500 === 499) await store.commitSync(undefined, tracker.takeChanges());
    }
    await store.commitSync("s1", tracker.takeChanges());
    const perRoom = (heap() - before) / 10_000;
    assert.ok(perRoom < 1250, `${Math.round(perRoom)} bytes per room`);
  });
});
