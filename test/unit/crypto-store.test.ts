import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DeviceId, initAsync, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { ClientEvent } from "../../src/api/events.js";
import { exportDatabases, importDatabases } from "../../src/crypto/idb-snapshot.js";
import { cryptoIndexedDB } from "../../src/crypto/indexeddb.js";
import { CryptoStoreFile, CryptoStoreLockedError, cryptoOptionsOf } from "../../src/crypto/index.js";
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
