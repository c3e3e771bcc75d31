import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import {
  EFFECTS_KEPT,
  HANDLED_EVENTS_KEPT,
  type Store,
  type KvListOptions,
  type StoreChange,
  type StoredKvEntry,
  type StoredLogin,
  type StoredPendingEvent,
  type StoredRoomInfo,
  type StoredRooms,
} from "./store.js";

/** Another process has the store open. */
export class StoreLockedError extends Error {
  override readonly name = "StoreLockedError";
  constructor(readonly path: string) {
    super(`the store ${path} is in use by another process (one bot process per store)`);
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handled (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS rooms (room_id TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS room_state (
  room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (room_id, type, state_key));
CREATE TABLE IF NOT EXISTS account_data (
  room_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (room_id, type));
CREATE TABLE IF NOT EXISTS bot_kv (
  namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER,
  PRIMARY KEY (namespace, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bot_kv_expiry ON bot_kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS pending_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
  sender TEXT NOT NULL, session_id TEXT NOT NULL, since INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS effects (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL,
  UNIQUE (event_id, key));
`;

/**
 * A store in an SQLite file (better-sqlite3). The default when the bot gets a
 * `storePath`. The file holds the access token, so it is created mode 0600,
 * and it is locked for the lifetime of the process: a second bot process on
 * the same file fails with {@link StoreLockedError} instead of corrupting it.
 *
 * @example
 * const bot = new NioBot({ ..., storePath: "./bot.db" });
 */
export class SqliteStore implements Store {
  #db: Database.Database | undefined;
  readonly #statements = new Map<string, Database.Statement>();
  #statementsOf: Database.Database | undefined;
  /** Writes waiting for the next group commit (see {@link SqliteStore.#enqueue}). */
  #queued: QueuedWrite[] = [];
  /** Event ids whose handled record is queued, so `isHandled` sees them before the commit. */
  readonly #queuedHandled = new Set<string>();
  #flushScheduled = false;

  constructor(readonly path: string) {}

  async open(): Promise<void> {
    if (this.#db) return;
    // Loaded on open, not with niobot: a bot without a store never needs the native module.
    const { default: Sqlite } = await import("better-sqlite3");
    // Another open() may have finished while this one waited for the module.
    if (this.#db) return;
    if (this.path !== ":memory:") mkdirSync(dirname(this.path), { recursive: true });
    const db = new Sqlite(this.path, { timeout: 0 });
    try {
      if (this.path !== ":memory:") chmodSync(this.path, 0o600);
      // Exclusive locking keeps the file locked from the first write until the
      // connection closes (or the process dies, when the OS drops the lock).
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec("BEGIN EXCLUSIVE; COMMIT;");
      db.exec(SCHEMA);
    } catch (error) {
      db.close();
      if (error instanceof Error && /locked|busy/i.test(error.message)) throw new StoreLockedError(this.path);
      throw error;
    }
    this.#db = db;
  }

  async close(): Promise<void> {
    // Queued writes were promised: they commit before the connection goes.
    if (this.#db) this.#flush();
    this.#db?.close();
    this.#db = undefined;
  }

  get #conn(): Database.Database {
    if (!this.#db) throw new Error("store is not open");
    return this.#db;
  }

  #assertOpen(): void {
    if (!this.#db) throw new Error("store is not open");
  }

  /** A prepared statement, compiled once per connection: the per-batch writes reuse theirs. */
  #prepare(sql: string): Database.Statement {
    const db = this.#conn;
    if (this.#statementsOf !== db) {
      this.#statements.clear();
      this.#statementsOf = db;
    }
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, (statement = db.prepare(sql)));
    return statement;
  }

  /**
   * Group commit: a write queued here runs in one transaction with every other
   * write queued in the same turn of the event loop, and its promise resolves
   * only once that transaction committed, exactly as if it had committed alone.
   * Each commit appends to the WAL (and every thousand pages or so checkpoints
   * with an fsync), so a batch whose events finish together costs one commit,
   * not one per event. If the group fails, each write is retried in its own
   * transaction, so one failing write cannot fail the others.
   */
  #enqueue(run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ run, resolve, reject });
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const writes = this.#queued;
    if (writes.length === 0) return;
    this.#queued = [];
    try {
      const db = this.#conn;
      db.transaction(() => {
        for (const write of writes) write.run();
      })();
      for (const write of writes) write.resolve();
    } catch (error) {
      if (writes.length === 1) writes[0]!.reject(error);
      else
        for (const write of writes) {
          try {
            this.#conn.transaction(write.run)();
            write.resolve();
          } catch (alone) {
            write.reject(alone);
          }
        }
    } finally {
      this.#queuedHandled.clear();
    }
  }

  #meta(key: string): string | undefined {
    const row = this.#prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  #setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.#prepare("DELETE FROM meta WHERE key = ?").run(key);
    else this.#prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  async getSyncToken(): Promise<string | undefined> {
    return this.#meta("sync_token");
  }

  async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
    this.#assertOpen();
    // Written with the handled records of the same turn: one commit for a settled batch.
    return this.#enqueue(() => this.#writeSync(token, changes));
  }

  #writeSync(token: string | undefined, changes: readonly StoreChange[]): void {
    const putRoom = this.#prepare("INSERT OR REPLACE INTO rooms (room_id, info) VALUES (?, ?)");
    const putState = this.#prepare("INSERT OR REPLACE INTO room_state (room_id, type, state_key, event) VALUES (?, ?, ?, ?)");
    const delState = this.#prepare("DELETE FROM room_state WHERE room_id = ? AND type = ? AND state_key = ?");
    const putData = this.#prepare("INSERT OR REPLACE INTO account_data (room_id, type, content) VALUES (?, ?, ?)");
    const delData = this.#prepare("DELETE FROM account_data WHERE room_id = ? AND type = ?");
    {
      for (const change of changes) {
        if (change.kind === "room") {
          if (change.info) putRoom.run(change.roomId, JSON.stringify(change.info));
          else {
            this.#prepare("DELETE FROM rooms WHERE room_id = ?").run(change.roomId);
            this.#prepare("DELETE FROM room_state WHERE room_id = ?").run(change.roomId);
            this.#prepare("DELETE FROM account_data WHERE room_id = ?").run(change.roomId);
          }
        } else if (change.kind === "state") {
          if (change.event) putState.run(change.roomId, change.type, change.stateKey, JSON.stringify(change.event));
          else delState.run(change.roomId, change.type, change.stateKey);
        } else if (change.content) putData.run(change.roomId ?? "", change.type, JSON.stringify(change.content));
        else delData.run(change.roomId ?? "", change.type);
      }
      if (token !== undefined) this.#setMeta("sync_token", token);
    }
  }

  async loadRooms(): Promise<StoredRooms> {
    const rooms = (this.#prepare("SELECT info FROM rooms").all() as { info: string }[]).map((r) => JSON.parse(r.info) as StoredRoomInfo);
    const state = (this.#prepare("SELECT room_id, event FROM room_state").all() as { room_id: string; event: string }[]).map((r) => ({
      ...(JSON.parse(r.event) as StoredRooms["state"][number]),
      roomId: r.room_id,
    }));
    const accountData = (this.#prepare("SELECT room_id, type, content FROM account_data").all() as { room_id: string; type: string; content: string }[]).map(
      (r) => ({ roomId: r.room_id === "" ? undefined : r.room_id, type: r.type, content: JSON.parse(r.content) as Record<string, unknown> }),
    );
    return { rooms, state, accountData };
  }

  async isHandled(eventId: string): Promise<boolean> {
    return this.isHandledNow(eventId);
  }

  isHandledNow(eventId: string): boolean {
    if (this.#queuedHandled.has(eventId)) return true;
    return this.#prepare("SELECT 1 FROM handled WHERE event_id = ?").get(eventId) !== undefined;
  }

  async markHandled(eventId: string): Promise<void> {
    this.#assertOpen();
    this.#queuedHandled.add(eventId);
    return this.#enqueue(() => {
      const info = this.#prepare("INSERT OR IGNORE INTO handled (event_id) VALUES (?)").run(eventId);
      // Prune in steps rather than per insert: one cheap range delete every 500 events.
      if (info.changes > 0 && Number(info.lastInsertRowid) % 500 === 0)
        this.#prepare("DELETE FROM handled WHERE seq <= ?").run(Number(info.lastInsertRowid) - HANDLED_EVENTS_KEPT);
    });
  }

  async getLogin(): Promise<StoredLogin | undefined> {
    const raw = this.#meta("login");
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredLogin);
  }

  async setLogin(login: StoredLogin | undefined): Promise<void> {
    this.#setMeta("login", login === undefined ? undefined : JSON.stringify(login));
  }

  async putPendingEvent(event: StoredPendingEvent): Promise<void> {
    this.#conn
      .prepare("INSERT OR REPLACE INTO pending_events (event_id, room_id, sender, session_id, since, json) VALUES (?, ?, ?, ?, ?, ?)")
      .run(event.eventId, event.roomId, event.sender, event.sessionId, event.since, event.json);
  }

  async deletePendingEvents(eventIds: readonly string[]): Promise<void> {
    const db = this.#conn;
    const del = this.#prepare("DELETE FROM pending_events WHERE event_id = ?");
    db.transaction(() => {
      for (const id of eventIds) del.run(id);
    })();
  }

  async loadPendingEvents(): Promise<StoredPendingEvent[]> {
    const rows = this.#prepare("SELECT event_id, room_id, sender, session_id, since, json FROM pending_events ORDER BY seq").all() as {
      event_id: string; room_id: string; sender: string; session_id: string; since: number; json: string;
    }[];
    return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, sender: r.sender, sessionId: r.session_id, since: r.since, json: r.json }));
  }

  // --- Bot data (`bot.kv`): the same connection as everything else, so writes keep their order. ---

  async kvGet(namespace: string, key: string): Promise<StoredKvEntry | undefined> {
    const row = this.#prepare("SELECT key, value, expires_at FROM bot_kv WHERE namespace = ? AND key = ?").get(namespace, key) as KvRow | undefined;
    return row === undefined ? undefined : kvEntry(row);
  }

  async kvSet(namespace: string, key: string, value: string, expiresAt: number | undefined): Promise<void> {
    this.#conn
      .prepare("INSERT INTO bot_kv (namespace, key, value, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at")
      .run(namespace, key, value, expiresAt ?? null);
  }

  async kvDelete(namespace: string, key: string): Promise<boolean> {
    return this.#prepare("DELETE FROM bot_kv WHERE namespace = ? AND key = ?").run(namespace, key).changes > 0;
  }

  async kvList(namespace: string, options: KvListOptions = {}): Promise<StoredKvEntry[]> {
    const { prefix = "", after, limit } = options;
    // A range scan rather than LIKE: no wildcard escaping, and it uses the primary key.
    const clauses = ["namespace = ?", "key >= ?"];
    const params: (string | number)[] = [namespace, prefix];
    if (after !== undefined) {
      clauses.push("key > ?");
      params.push(after);
    }
    const rows = this.#conn
      .prepare(`SELECT key, value, expires_at FROM bot_kv WHERE ${clauses.join(" AND ")} ORDER BY key LIMIT ?`)
      .iterate(...params, limit ?? -1) as IterableIterator<KvRow>;
    const out: StoredKvEntry[] = [];
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) break;
      out.push(kvEntry(row));
    }
    return out;
  }

  async kvPurgeExpired(now: number): Promise<number> {
    return this.#prepare("DELETE FROM bot_kv WHERE expires_at IS NOT NULL AND expires_at <= ?").run(now).changes;
  }

  async getValue(key: string): Promise<string | undefined> {
    return this.#meta(`kv:${key}`);
  }

  async setValue(key: string, value: string | undefined): Promise<void> {
    this.#setMeta(`kv:${key}`, value);
  }

  async getEffect(eventId: string, key: string): Promise<string | undefined> {
    const row = this.#prepare("SELECT record FROM effects WHERE event_id = ? AND key = ?").get(eventId, key) as { record: string } | undefined;
    return row?.record;
  }

  async setEffect(eventId: string, key: string, record: string | undefined): Promise<void> {
    const db = this.#conn;
    if (record === undefined) {
      this.#prepare("DELETE FROM effects WHERE event_id = ? AND key = ?").run(eventId, key);
      return;
    }
    // An update keeps the row's seq: retention counts from when the record was first written.
    const info = db
      .prepare("INSERT INTO effects (event_id, key, record) VALUES (?, ?, ?) ON CONFLICT(event_id, key) DO UPDATE SET record = excluded.record")
      .run(eventId, key, record);
    const seq = Number(info.lastInsertRowid);
    if (info.changes > 0 && seq % 500 === 0) this.#prepare("DELETE FROM effects WHERE seq <= ?").run(seq - EFFECTS_KEPT);
  }
}

/** One write waiting for a group commit. */
interface QueuedWrite {
  run(): void;
  resolve(): void;
  reject(error: unknown): void;
}

interface KvRow {
  key: string;
  value: string;
  expires_at: number | null;
}

function kvEntry(row: KvRow): StoredKvEntry {
  return { key: row.key, value: row.value, expiresAt: row.expires_at ?? undefined };
}
