import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MemoryStore } from "../../src/storage/memory.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import { HANDLED_EVENTS_KEPT, type Store } from "../../src/storage/store.js";
import { postgresStoreKind } from "../helpers/postgres.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const kinds: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(join(dir, `${Math.random()}.db`))],
];
// The same tests against PostgreSQL (a throwaway cluster); skipped, with the reason, without its binaries.
const pg = await postgresStoreKind();
if ("kind" in pg) kinds.push(pg.kind);
else describe("PostgresStore", { skip: pg.skip }, () => undefined);

for (const [name, make] of kinds) {
  describe(name, () => {
    test("sync token and changes commit together; no token keeps the old one", async () => {
      const store = make();
      await store.open();
      assert.equal(await store.getSyncToken(), undefined);
      await store.commitSync("s1", [
        { kind: "room", roomId: "!a:x", info: { roomId: "!a:x", membership: "join", summary: { joined: 2 } } },
        { kind: "state", roomId: "!a:x", type: "m.room.member", stateKey: "@u:x", event: { type: "m.room.member", stateKey: "@u:x", sender: "@u:x", eventId: "$1", content: { membership: "join" } } },
        { kind: "accountData", roomId: undefined, type: "m.direct", content: { "@u:x": ["!a:x"] } },
        { kind: "accountData", roomId: "!a:x", type: "m.tag", content: { tags: {} } },
      ]);
      await store.commitSync(undefined, [{ kind: "state", roomId: "!a:x", type: "m.room.name", stateKey: "", event: { type: "m.room.name", stateKey: "", sender: "@u:x", eventId: "$2", content: { name: "A" } } }]);
      assert.equal(await store.getSyncToken(), "s1");
      const loaded = await store.loadRooms();
      assert.equal(loaded.rooms.length, 1);
      assert.equal(loaded.state.length, 2);
      assert.deepEqual(loaded.accountData.find((d) => d.type === "m.direct")?.content, { "@u:x": ["!a:x"] });
      assert.equal(loaded.accountData.find((d) => d.type === "m.tag")?.roomId, "!a:x");

      await store.commitSync("s2", [{ kind: "room", roomId: "!a:x", info: undefined }]);
      const after = await store.loadRooms();
      assert.deepEqual([after.rooms.length, after.state.length, after.accountData.length], [0, 0, 1]);
      assert.equal(await store.getSyncToken(), "s2");
      await store.close();
    });

    test("handled ids, login and values", async () => {
      const store = make();
      await store.open();
      assert.equal(await store.isHandled("$e"), false);
      await store.markHandled("$e");
      await store.markHandled("$e");
      assert.equal(await store.isHandled("$e"), true);
      await store.setLogin({ userId: "@b:x", deviceId: "D", accessToken: "t", homeserver: "http://h" });
      assert.equal((await store.getLogin())?.deviceId, "D");
      await store.setValue("k", "v");
      assert.equal(await store.getValue("k"), "v");
      await store.setValue("k", undefined);
      assert.equal(await store.getValue("k"), undefined);
      await store.close();
    });

    test("handled ids recorded together (one turn, duplicates included) are all kept", async () => {
      const store = make();
      await store.open();
      const ids = Array.from({ length: 30 }, (_, i) => `$together${i % 25}`);
      const written = Promise.all(ids.map((id) => store.markHandled(id)));
      // A store that answers at once (PostgreSQL does not) counts queued records as handled too.
      const now = store.isHandledNow?.bind(store) ?? ((id: string) => ids.includes(id));
      for (const id of ids) assert.equal(now(id), true);
      await written;
      for (const id of ids) assert.equal(await store.isHandled(id), true);
      for (const id of ids) assert.equal(now(id), true);
      assert.equal(await store.isHandled("$together25"), false);
      assert.equal(now("$together25"), false);
      await store.close();
    });

    test("handled ids are bounded: the oldest are forgotten, the newest kept", async () => {
      const store = make();
      await store.open();
      const total = HANDLED_EVENTS_KEPT + 1000;
      for (let i = 0; i < total; i++) await store.markHandled(`$${i}`);
      assert.equal(await store.isHandled(`$${total - 1}`), true);
      assert.equal(await store.isHandled(`$${total - HANDLED_EVENTS_KEPT}`), true);
      assert.equal(await store.isHandled("$0"), false);
      await store.close();
    });
  });
}

test("SqliteStore survives reopening", async () => {
  const path = join(dir, "reopen.db");
  const a = new SqliteStore(path);
  await a.open();
  await a.commitSync("tok", []);
  await a.markHandled("$x");
  await a.close();
  const b = new SqliteStore(path);
  await b.open();
  assert.equal(await b.getSyncToken(), "tok");
  assert.equal(await b.isHandled("$x"), true);
  await b.close();
});

test("SqliteStore commits the handled records of one turn, with the sync position, in one transaction", async () => {
  const path = join(dir, "group.db");
  const store = new SqliteStore(path);
  await store.open();
  await store.commitSync("s0", []);
  // Each commit appends the pages it changed to the write-ahead log: count its frames.
  const frames = (): number => Math.max(0, (statSync(`${path}-wal`).size - 32) / (4096 + 24));
  const before = frames();
  const ids = Array.from({ length: 50 }, (_, i) => `$group${i}`);
  await Promise.all([...ids.map((id) => store.markHandled(id)), store.commitSync("s1", [])]);
  const written = frames() - before;
  assert.ok(written < 10, `50 handled records and a token took ${written} WAL frames: one commit each?`);
  for (const id of ids) assert.equal(await store.isHandled(id), true);
  await store.close();
  const reopened = new SqliteStore(path);
  await reopened.open();
  assert.equal(await reopened.getSyncToken(), "s1");
  assert.equal(await reopened.isHandled("$group49"), true);
  await reopened.close();
});

test("SqliteStore: a write that fails in a group commit fails alone; the others commit", async () => {
  const store = new SqliteStore(join(dir, "group-fail.db"));
  await store.open();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const results = await Promise.allSettled([
    store.markHandled("$a"),
    store.commitSync("bad", [{ kind: "accountData", roomId: undefined, type: "x", content: cyclic }]),
    store.markHandled("$b"),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(await store.isHandled("$a"), true);
  assert.equal(await store.isHandled("$b"), true);
  assert.equal(await store.getSyncToken(), undefined);
  await store.close();
});

test("RoomTracker tracks only the state a bot needs, summaries and membership", () => {
  const tracker = new RoomTracker("@bot:x");
  const room = tracker.ensureRoom("!r:x", "join");
  const ev = (type: string, stateKey: string, content: Record<string, unknown>, sender = "@u:x") =>
    ({ type, state_key: stateKey, content, sender, event_id: `$${type}${stateKey}`, origin_server_ts: 0, room_id: "!r:x" });
  assert.equal(tracker.applyState(room, ev("m.room.member", "@u:x", { membership: "join", displayname: "U" })), true);
  assert.equal(tracker.applyState(room, ev("m.room.topic", "", { topic: "ignored" })), false);
  tracker.applyState(room, ev("m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2" }));
  tracker.applyState(room, ev("m.room.tombstone", "", { body: "moved", replacement_room: "!new:x" }));
  tracker.applySummary(room, { "m.joined_member_count": 2 });
  tracker.applySummary(room, { "m.invited_member_count": 0 });
  assert.deepEqual(room.summary, { joined: 2, invited: 0 });
  assert.equal(room.displayName("@u:x"), "U");
  assert.equal(room.isEncrypted, true);
  assert.equal(room.tombstone?.replacement_room, "!new:x");
  assert.equal(room.getState("m.room.topic"), undefined);
  const changes = tracker.takeChanges();
  assert.ok(changes.some((c) => c.kind === "room"));
  assert.equal(changes.filter((c) => c.kind === "state").length, 3);
  assert.deepEqual(tracker.takeChanges(), []);
  tracker.forgetRoom("!r:x");
  assert.equal(tracker.rooms.size, 0);
});
