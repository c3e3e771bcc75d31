import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { serialize } from "node:v8";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DeviceId, initAsync, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { ClientEvent } from "../../src/api/events.js";
import { exportDatabases, importDatabases } from "../../src/crypto/idb-snapshot.js";
import { cryptoIndexedDB } from "../../src/crypto/indexeddb.js";
import { CryptoStoreLockedError, cryptoOptionsOf } from "../../src/crypto/index.js";
import { CryptoStoreFile } from "../../src/crypto/store.js";
import { readSnapshotDb, SnapshotDb } from "../../src/crypto/snapshot-db.js";
import { PendingDecryptions } from "../../src/crypto/pending.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";

const dirs: string[] = [];
function tempPath(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "niobot-crypto-unit-"));
  dirs.push(dir);
  return join(dir, name);
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function request<T>(r: { onsuccess: (() => void) | null; onerror: (() => void) | null; result: T }): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(new Error("request failed"));
  });
}

describe("IndexedDB snapshots", () => {
  test("schema, in-line and out-of-line keys, indexes and binary values survive a round trip", async () => {
    const { factory } = cryptoIndexedDB();
    const open = factory.open("unit-src", 3);
    open.onupgradeneeded = () => {
      const db = open.result;
      const inline = db.createObjectStore("inline", { keyPath: "id", autoIncrement: false });
      inline.createIndex("by_tag", "tag", { unique: false, multiEntry: true });
      db.createObjectStore("outofline", { keyPath: null, autoIncrement: true });
    };
    const db = await request(open);
    const tx = db.transaction(["inline", "outofline"], "readwrite");
    tx.objectStore("inline").put({ id: "a", tag: ["x", "y"], bytes: new Uint8Array([1, 2, 3]) });
    tx.objectStore("inline").put({ id: "b", tag: ["y"], nested: { map: new Map([["k", 1]]) } });
    tx.objectStore("outofline").put("first");
    tx.objectStore("outofline").put({ v: 2 }, ["compound", 7]);
    await new Promise<void>((resolve) => (tx.oncomplete = () => resolve()));
    db.close();

    const snapshot = await exportDatabases(factory, ["unit-src"]);
    await importDatabases(factory, snapshot, () => "unit-dst");
    const copy = await exportDatabases(factory, ["unit-dst"]);
    assert.deepEqual(copy.map((d) => ({ ...d, name: "x" })), snapshot.map((d) => ({ ...d, name: "x" })));
    assert.equal(copy[0]?.version, 3);
    const inline = copy[0]?.stores.find((s) => s.name === "inline");
    assert.deepEqual(inline?.indexes, [{ name: "by_tag", keyPath: "tag", unique: false, multiEntry: true }]);
    assert.deepEqual((inline?.records[0]?.value as { bytes: Uint8Array }).bytes, new Uint8Array([1, 2, 3]));
  });
});

describe("the crypto store file", () => {
  test("keeps a machine's identity across close and open, privately, and locks out a second opener", async () => {
    await initAsync();
    const path = tempPath("bot.db.crypto");
    const first = new CryptoStoreFile(path);
    assert.equal((await first.open()).kind, "none");
    await assert.rejects(new CryptoStoreFile(path).open(), CryptoStoreLockedError);
    first.setOwner("@bot:example.org", "DEVICE");
    const machine = await OlmMachine.initialize(new UserId("@bot:example.org"), new DeviceId("DEVICE"), first.storeName);
    const keys = machine.identityKeys.curve25519.toBase64();
    await first.save();
    assert.equal(first.dirty, false);
    const written = statSync(path).mtimeMs;
    await first.save();
    assert.equal(statSync(path).mtimeMs, written, "no write without a change");
    machine.close();
    await first.close();
    assert.equal(statSync(path).mode & 0o777, 0o600, "the store holds private keys");

    const second = new CryptoStoreFile(path);
    const restored = await second.open();
    assert.deepEqual(restored, { kind: "restored", meta: { userId: "@bot:example.org", deviceId: "DEVICE", clean: true } });
    const again = await OlmMachine.initialize(new UserId("@bot:example.org"), new DeviceId("DEVICE"), second.storeName);
    assert.equal(again.identityKeys.curve25519.toBase64(), keys);
    again.close();
    await second.abandon();
  });

  test("a snapshot saved while open is marked unclean (a crash), and closing marks it clean", async () => {
    const path = tempPath("c.crypto");
    const store = new CryptoStoreFile(path);
    await store.open();
    store.setOwner("@bot:example.org", "D2");
    await store.save();
    await store.close();
    const reopened = new CryptoStoreFile(path);
    const result = await reopened.open();
    assert.equal(result.kind === "restored" && result.meta.clean, true);
    await reopened.abandon();
  });

  test("temp files a crash left mid-write (they hold keys) are removed at start, and nothing else", async () => {
    const path = tempPath("t.crypto");
    const leftover = `${path}.4242.0badcafe.tmp`;
    writeFileSync(leftover, "private keys", { mode: 0o600 });
    const unrelated = [`${path}.unreadable-1`, `${path}.notes.tmp`, join(path, "..", "other.4242.0badcafe.tmp")];
    for (const file of unrelated) writeFileSync(file, "keep");
    const store = new CryptoStoreFile(path);
    await store.open();
    assert.equal(existsSync(leftover), false, "the leftover temp file is gone");
    for (const file of unrelated) assert.equal(existsSync(file), true, `${file} is kept`);
    await store.abandon();
  });

  test("a save after a small write updates the file in place with just that record; puts, deletes and clears survive a reopen", async () => {
    const path = tempPath("inc.crypto");
    const store = new CryptoStoreFile(path);
    await store.open();
    store.setOwner("@bot:example.org", "D3");
    const { factory } = cryptoIndexedDB();
    const open = factory.open(`${store.storeName}keys`, 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore("room_keys", { keyPath: "id", autoIncrement: false });
      open.result.createObjectStore("scratch", { keyPath: null, autoIncrement: false });
    };
    const db = await request(open);
    const write = async (fn: (keys: ReturnType<typeof db.transaction>) => void): Promise<void> => {
      const tx = db.transaction(["room_keys", "scratch"], "readwrite");
      fn(tx);
      await new Promise<void>((resolve) => (tx.oncomplete = () => resolve()));
    };
    await write((tx) => {
      for (let i = 0; i < 200; i++) tx.objectStore("room_keys").put({ id: `k${i}`, pickled: "x".repeat(1000) });
      tx.objectStore("scratch").put("a", "one");
      tx.objectStore("scratch").put("b", "two");
    });
    await store.save();
    const inode = statSync(path).ino;

    await write((tx) => {
      tx.objectStore("room_keys").put({ id: "k7", pickled: "changed" });
      tx.objectStore("room_keys").delete("k8");
      tx.objectStore("scratch").clear();
      tx.objectStore("scratch").put("c", "three");
    });
    await store.save();
    assert.equal(statSync(path).ino, inode, "written in place, not rewritten as a new file");
    db.close();
    await store.close();

    const reopened = new CryptoStoreFile(path);
    assert.equal((await reopened.open()).kind, "restored");
    const [copy] = await exportDatabases(factory, [`${reopened.storeName}keys`]);
    const records = (name: string) => copy?.stores.find((s) => s.name === name)?.records ?? [];
    assert.equal(records("room_keys").length, 199);
    assert.deepEqual(records("room_keys").find((r) => r.key === "k7")?.value, { id: "k7", pickled: "changed" });
    assert.equal(records("room_keys").some((r) => r.key === "k8"), false);
    assert.deepEqual(records("scratch"), [{ key: "three", value: "c" }]);
    await reopened.abandon();
  });

  test("a record rewritten with the same bytes (the machine's account, every sync) is not written again", async () => {
    const path = tempPath("same.crypto");
    const meta = { userId: "@bot:example.org", deviceId: "D4", clean: false };
    const schema = [{ name: "db", version: 1, stores: [{ name: "core", keyPath: null, autoIncrement: false, indexes: [], records: [] }] }];
    const file = await SnapshotDb.writeFull(path, meta, schema);
    const delta = (value: unknown) => [{ db: "db", store: "core", all: false, records: [{ key: "account", value }] }];
    assert.equal(file.applyDeltas(meta, delta({ pickle: "a" })), 1, "the first write of a record is written");
    assert.equal(file.applyDeltas(meta, delta({ pickle: "a" })), 0, "the same bytes again: nothing written");
    assert.equal(file.applyDeltas(meta, delta({ pickle: "b" })), 1, "a changed value is written");
    assert.equal(file.applyDeltas(meta, delta({ pickle: "a" })), 1, "and changing it back too");
    file.close();
    const { databases } = readSnapshotDb(path);
    assert.deepEqual(databases[0]?.stores[0]?.records, [{ key: "account", value: { pickle: "a" } }]);
  });

  test("a store in the earlier single-snapshot format is read, and rewritten in the new one", async () => {
    const path = tempPath("legacy.crypto");
    const { factory } = cryptoIndexedDB();
    const open = factory.open("legacy-src", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("core", { keyPath: null, autoIncrement: false });
    const db = await request(open);
    const tx = db.transaction(["core"], "readwrite");
    tx.objectStore("core").put("the account", "account");
    await new Promise<void>((resolve) => (tx.oncomplete = () => resolve()));
    db.close();
    const [snapshot] = await exportDatabases(factory, ["legacy-src"]);
    const legacy = { format: 1, userId: "@bot:example.org", deviceId: "OLD", clean: true, savedAt: 1, databases: [{ ...snapshot, name: "::core" }] };
    writeFileSync(path, Buffer.concat([Buffer.from("NIOBOT-CRYPTO-1\n"), serialize(legacy)]), { mode: 0o600 });

    const store = new CryptoStoreFile(path);
    assert.deepEqual(await store.open(), { kind: "restored", meta: { userId: "@bot:example.org", deviceId: "OLD", clean: true } });
    store.setOwner("@bot:example.org", "OLD");
    await store.close();
    assert.equal(readFileSync(path).subarray(0, 15).toString(), "SQLite format 3");
    const again = new CryptoStoreFile(path);
    assert.equal((await again.open()).kind, "restored");
    const [copy] = await exportDatabases(factory, [`${again.storeName}::core`]);
    assert.deepEqual(copy?.stores[0]?.records, [{ key: "account", value: "the account" }]);
    await again.abandon();
  });

  test("a memory-only store opens without a file and is not persistent", async () => {
    const store = new CryptoStoreFile(undefined);
    assert.equal(store.persistent, false);
    assert.equal((await store.open()).kind, "none");
    await store.close();
  });
});

describe("crypto options", () => {
  test("encryption defaults to on exactly when the crypto store persists", () => {
    const { enabled, storePath, passphrase, deviceName, trust, identity } = cryptoOptionsOf({ storePath: "bot.db" });
    assert.deepEqual({ enabled, storePath, passphrase, deviceName, trust }, { enabled: true, storePath: "bot.db.crypto", passphrase: undefined, deviceName: "niobot", trust: "all" });
    assert.ok(identity, "the device is cross-signed at start by default");
    assert.equal(cryptoOptionsOf({ storePath: "bot.db", crossSigning: false }).identity, undefined);
    assert.equal(cryptoOptionsOf({}).enabled, false);
    assert.equal(cryptoOptionsOf({ storePath: ":memory:" }).enabled, false);
    assert.equal(cryptoOptionsOf({ encryption: true }).enabled, true);
    assert.equal(cryptoOptionsOf({ encryption: true }).storePath, undefined);
    assert.equal(cryptoOptionsOf({ storePath: "a.db", encryption: false }).enabled, false);
    assert.equal(cryptoOptionsOf({ cryptoStorePath: "/keys/x" }).storePath, "/keys/x");
  });
});

describe("events waiting for keys", () => {
  const event = (n: number, session = "S"): ClientEvent => ({
    event_id: `$e${n}`, type: "m.room.encrypted", sender: "@u:x", origin_server_ts: Date.now(), room_id: "!r:x",
    content: { algorithm: "m.megolm.v1.aes-sha2", session_id: session, ciphertext: "..." },
  });

  test("are bounded, grouped by session, and persisted across a reload", async () => {
    const store = new MemoryStore();
    await store.open();
    const pending = new PendingDecryptions(store, silentLogger, 3);
    for (let i = 0; i < 5; i++) await pending.add(event(i, i % 2 === 0 ? "even" : "odd"));
    await pending.add(event(4, "even")); // idempotent
    assert.equal(pending.size, 3);
    assert.deepEqual(pending.all().map((p) => p.event.event_id), ["$e2", "$e3", "$e4"]);
    assert.deepEqual(pending.forSession("even").map((p) => p.event.event_id), ["$e2", "$e4"]);
    const reloaded = new PendingDecryptions(store, silentLogger, 3);
    await reloaded.load();
    assert.equal(reloaded.size, 3);
    await reloaded.remove("$e3");
    const third = new PendingDecryptions(store, silentLogger, 3, 0);
    await third.load();
    assert.equal(third.size, 0, "expired entries are dropped");
  });
});
