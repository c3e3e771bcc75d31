/**
 * The queue of events waiting for a room key under hostile input (issue 11,
 * finding 6): anyone can send `m.room.encrypted` events with made-up session
 * ids, so parking one must cost one small record, and size and quotas bound
 * what a sender or a room can park.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { PendingDecryptions } from "../../src/crypto/pending.js";
import type { Logger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SqliteStore } from "../../src/storage/sqlite.js";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function fake(n: number, opts: { sender?: string; room?: string; bytes?: number } = {}): ClientEvent {
  return {
    event_id: `$fake${n}`, type: "m.room.encrypted", sender: opts.sender ?? `@u${n}:x`, origin_server_ts: 1, room_id: opts.room ?? `!r${n}:x`,
    content: { algorithm: "m.megolm.v1.aes-sha2", session_id: `random-${n}`, ciphertext: "x".repeat(opts.bytes ?? 200), sender_key: "k", device_id: "D" },
  };
}

/** A logger that keeps warnings, to check every drop says so. */
function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const noop = (): void => undefined;
  const log = { debug: noop, info: noop, error: noop, warn: (_fields: unknown, message?: string) => void warnings.push(String(message)) } as unknown as Logger;
  return { log, warnings };
}

/** A memory store that counts the bytes each layer hands it for persisting. */
class CountingStore extends MemoryStore {
  written = 0;
  override async setValue(key: string, value: string | undefined): Promise<void> {
    this.written += value?.length ?? 0;
    await super.setValue(key, value);
  }
  override async putPendingEvent(event: Parameters<MemoryStore["putPendingEvent"]>[0]): Promise<void> {
    this.written += event.json.length;
    await super.putPendingEvent(event);
  }
}

describe("events waiting for keys, under hostile input", () => {
  test("parking an event writes that event only, however full the queue is", async () => {
    const store = new CountingStore();
    await store.open();
    const pending = new PendingDecryptions(store, recordingLogger().log);
    const size = JSON.stringify(fake(0, { bytes: 4000 })).length;
    for (let i = 0; i < 499; i++) await pending.add(fake(i, { bytes: 4000 }));
    store.written = 0;
    await pending.add(fake(499, { bytes: 4000 }));
    assert.equal(pending.size, 500);
    assert.ok(store.written <= size + 64, `one add wrote ${store.written} bytes for a ${size}-byte event`);
  });

  test("oversized events, and events over a sender's or a room's quota, are dropped with a log line", async () => {
    const store = new MemoryStore();
    await store.open();
    const { log, warnings } = recordingLogger();
    const pending = new PendingDecryptions(store, log, 500, undefined, { maxEventBytes: 2000, maxPerSender: 5, maxPerRoom: 8 });
    await pending.add(fake(1, { bytes: 5000 }));
    assert.equal(pending.size, 0);
    assert.match(warnings.at(-1) ?? "", /too large/);

    for (let i = 0; i < 20; i++) await pending.add(fake(100 + i, { sender: "@spammer:x" }));
    assert.equal(pending.size, 5, "one sender parks at most its quota");
    assert.match(warnings.at(-1) ?? "", /this sender/);

    for (let i = 0; i < 20; i++) await pending.add(fake(200 + i, { room: "!busy:x" }));
    assert.equal(pending.all().filter((p) => p.event.room_id === "!busy:x").length, 8, "one room parks at most its quota");
    assert.match(warnings.at(-1) ?? "", /this room/);

    // The quotas free up when events leave.
    await pending.remove("$fake100");
    await pending.add(fake(150, { sender: "@spammer:x" }));
    assert.equal(pending.all().filter((p) => p.event.sender === "@spammer:x").length, 5);
    assert.deepEqual(pending.forSession("random-150").map((p) => p.event.event_id), ["$fake150"]);
  });

  test("one record per event in SQLite: survives a reopen, removals are single deletes, the old single value is migrated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "niobot-pending-"));
    dirs.push(dir);
    const path = join(dir, "bot.db");
    const store = new SqliteStore(path);
    await store.open();
    // What an earlier version left: the whole queue in one value.
    await store.setValue("crypto.pendingDecryption", JSON.stringify([{ event: fake(1), since: Date.now() }]));
    const pending = new PendingDecryptions(store, recordingLogger().log);
    await pending.load();
    assert.equal(await store.getValue("crypto.pendingDecryption"), undefined, "the old value is gone");
    await pending.add(fake(2));
    await pending.add(fake(3));
    await pending.remove("$fake2");
    await store.close();

    const reopened = new SqliteStore(path);
    await reopened.open();
    assert.deepEqual((await reopened.loadPendingEvents()).map((r) => [r.eventId, r.sessionId]), [["$fake1", "random-1"], ["$fake3", "random-3"]]);
    const again = new PendingDecryptions(reopened, recordingLogger().log);
    await again.load();
    assert.deepEqual(again.all().map((p) => p.event.event_id), ["$fake1", "$fake3"]);
    await reopened.close();
  });
});
