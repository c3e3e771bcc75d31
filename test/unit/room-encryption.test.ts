/**
 * Encryption fails closed (issue 11, findings 2 and 3): once encrypted a room
 * stays encrypted in memory and in the store, and a room the bot created
 * encrypted counts as encrypted before sync shows it, also after a restart.
 * The server lookup for unknown rooms is covered against Synapse in
 * `test/integration/encryption-failclosed.test.ts`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { MatrixApi } from "../../src/api/client.js";
import { RoomEncryption } from "../../src/crypto/room-encryption.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2", rotation_period_msgs: 50 };
const encryptionEvent = (content: Record<string, unknown>, id: string) => ({ type: "m.room.encryption", state_key: "", sender: "@admin:x", event_id: id, origin_server_ts: 1, content });

describe("once encrypted, a room stays encrypted", () => {
  for (const downgrade of [{}, { algorithm: 7 }, { rotation_period_msgs: 1 }]) {
    test(`an m.room.encryption event with ${JSON.stringify(downgrade)} does not downgrade it, in memory or in the store`, async () => {
      const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), "niobot-enc-")), "bot.db"));
      dirs.push(join(store.path, ".."));
      await store.open();
      const tracker = new RoomTracker("@bot:x");
      const room = tracker.ensureRoom("!r:x", "join");
      tracker.applyState(room, encryptionEvent(MEGOLM, "$1"));
      await store.commitSync("t1", tracker.takeChanges());

      assert.equal(tracker.applyState(room, encryptionEvent(downgrade, "$2")), false, "the downgrade is not applied");
      assert.equal(room.isEncrypted, true);
      assert.deepEqual(room.encryption, MEGOLM, "the settings that made it encrypted are kept");
      await store.commitSync("t2", tracker.takeChanges());
      await store.close();

      const reopened = new SqliteStore(store.path);
      await reopened.open();
      const restored = new RoomTracker("@bot:x");
      restored.load(await reopened.loadRooms());
      await reopened.close();
      assert.equal(restored.rooms.get("!r:x")?.isEncrypted, true, "still encrypted after a restart");
      assert.deepEqual(restored.rooms.get("!r:x")?.encryption, MEGOLM);
    });
  }

  test("a room first seen with an encryption event without algorithm (redacted) counts as megolm-encrypted", () => {
    const tracker = new RoomTracker("@bot:x");
    const room = tracker.ensureRoom("!r:x", "join");
    tracker.applyState(room, encryptionEvent({}, "$1"));
    assert.equal(room.isEncrypted, true);
    assert.equal(room.encryption?.algorithm, "m.megolm.v1.aes-sha2");
  });

  test("new valid settings still replace old ones", () => {
    const tracker = new RoomTracker("@bot:x");
    const room = tracker.ensureRoom("!r:x", "join");
    tracker.applyState(room, encryptionEvent(MEGOLM, "$1"));
    tracker.applyState(room, encryptionEvent({ algorithm: "m.megolm.v1.aes-sha2", rotation_period_msgs: 5 }, "$2"));
    assert.equal(room.encryption?.rotation_period_msgs, 5);
  });
});

describe("RoomEncryption", () => {
  /** An API that must not be called: the answers below come from memory and the store alone. */
  const noApi = new Proxy({}, { get: () => assert.fail("no server request expected") }) as unknown as MatrixApi;
  const host = (store: MemoryStore | SqliteStore, tracker = new RoomTracker("@bot:x")) => ({ api: noApi, store, rooms: tracker, log: consoleLogger("silent") });

  test("a room marked encrypted (created so) is encrypted before sync shows it, and after a restart", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "niobot-enc-")), "bot.db");
    dirs.push(join(path, ".."));
    const store = new SqliteStore(path);
    await store.open();
    await new RoomEncryption(host(store)).markEncrypted("!new:x");
    await store.close();

    const reopened = new SqliteStore(path);
    await reopened.open();
    const tracker = new RoomTracker("@bot:x");
    const encryption = new RoomEncryption(host(reopened, tracker));
    assert.equal((await encryption.settingsOf("!new:x"))?.algorithm, "m.megolm.v1.aes-sha2");
    // Even once sync shows the room as joined without (yet) its encryption event.
    tracker.ensureRoom("!new:x", "join");
    assert.equal((await encryption.settingsOf("!new:x"))?.algorithm, "m.megolm.v1.aes-sha2");
    await reopened.close();
  });

  test("a synced, joined room answers from synced state with no server request", async () => {
    const store = new MemoryStore();
    await store.open();
    const tracker = new RoomTracker("@bot:x");
    const plain = tracker.ensureRoom("!plain:x", "join");
    const secret = tracker.ensureRoom("!secret:x", "join");
    tracker.applyState(secret, encryptionEvent(MEGOLM, "$1"));
    const encryption = new RoomEncryption(host(store, tracker));
    assert.equal(await encryption.settingsOf(plain.roomId), undefined);
    assert.deepEqual(await encryption.settingsOf(secret.roomId), MEGOLM);
  });

  test("settingsNow answers without waiting only what settingsOf would, and null (ask settingsOf) until a room's stored flag was read", async () => {
    const store = new MemoryStore();
    await store.open();
    const tracker = new RoomTracker("@bot:x");
    const plain = tracker.ensureRoom("!plain:x", "join");
    const secret = tracker.ensureRoom("!secret:x", "join");
    tracker.applyState(secret, encryptionEvent(MEGOLM, "$1"));
    tracker.ensureRoom("!invited:x", "invite");
    // A flag stored by an earlier run (the bot created the room encrypted), not in synced state.
    await store.setValue("e2ee.encryptedRoom.!created:x", JSON.stringify(MEGOLM));
    tracker.ensureRoom("!created:x", "join");
    const encryption = new RoomEncryption(host(store, tracker));
    assert.deepEqual(encryption.settingsNow(secret.roomId), MEGOLM);
    // Not read from the store yet: only settingsOf can tell.
    assert.equal(encryption.settingsNow(plain.roomId), null);
    assert.equal(encryption.settingsNow("!created:x"), null);
    assert.equal(await encryption.settingsOf(plain.roomId), undefined);
    assert.deepEqual(await encryption.settingsOf("!created:x"), MEGOLM);
    assert.equal(encryption.settingsNow(plain.roomId), undefined);
    assert.deepEqual(encryption.settingsNow("!created:x"), MEGOLM);
    // Not joined, or not known at all: a lookup may be needed, never a guess.
    assert.equal(encryption.settingsNow("!invited:x"), null);
    assert.equal(encryption.settingsNow("!unknown:x"), null);
  });
});
