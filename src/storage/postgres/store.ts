/**
 * `PostgresStore`: the bot's store in a PostgreSQL schema, selected by
 * `storeUrl: "postgres://..."`. It holds what the SQLite store holds (login,
 * sync token, handled ids, room state, DM bookkeeping in account data,
 * pending events, `ctx.once` records, `bot.kv`) plus the crypto snapshot
 * records (see `crypto.ts`), so one database backup has all of a bot.
 *
 * The store interface is asynchronous, so every call is a query; no cache.
 * The invariants of the SQLite store hold:
 * - a sync batch's room changes and its token are one transaction;
 * - the crypto layer's save resolves only after its transaction committed,
 *   and the sync engine commits the token only after that save, so a token
 *   never gets ahead of the keys it depends on (the same order as with the
 *   two SQLite files).
 *
 * Fencing: every write carries the fencing number of the lease the process
 * holds (`setFence`, see `lease.ts`) and is refused by the database with
 * {@link StoreFencedError} once another replica took the lease. Without a
 * lease (one process) the fence is null, and a session advisory lock keeps a
 * second process off the schema ({@link StoreLockedError}).
 *
 * Outages: a query that fails because the server is gone (restart, network)
 * is retried with backoff for up to `outageWaitMs` (default 5 minutes), so a
 * database restart delays the bot instead of losing a write. Every write is
 * idempotent (upserts, `ON CONFLICT DO NOTHING`), so repeating one whose
 * commit was cut off is safe.
 *
 * @module
 */
import type postgres from "postgres";
import type { Sql, TransactionSql, PendingQuery, Row } from "postgres";
import { StoreLockedError } from "../sqlite.js";
import {
  EFFECTS_KEPT,
  HANDLED_EVENTS_KEPT,
  type KvListOptions,
  type Store,
  type StoreChange,
  type StoredKvEntry,
  type StoredLogin,
  type StoredPendingEvent,
  type StoredRoomInfo,
  type StoredRooms,
} from "../store.js";
import type { CryptoSnapshotStore } from "../crypto-snapshot.js";
import { migrate } from "./schema.js";
import { parsePostgresUrl, type PostgresTarget } from "./url.js";
import { PostgresCryptoSnapshots } from "./crypto.js";
import { StoreFencedError, StoreUnavailableError, isTransient } from "./errors.js";

export { StoreFencedError, StoreUnavailableError } from "./errors.js";

/** Options of a {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /** The bot's schema (default: the URL's `schema` parameter, else `niobot`). */
  schema?: string;
  /** Connections in the pool (default 4). */
  maxConnections?: number;
  /** How long a query keeps retrying while the server is unreachable (default 5 minutes). */
  outageWaitMs?: number;
  /**
   * Do not take the single-process lock at `open` (default false): the
   * replicas' lease (`lease.ts`) decides who writes instead.
   */
  shared?: boolean;
}

/**
 * A store in a PostgreSQL schema.
 *
 * @example
 * const bot = new NioBot({ ..., storeUrl: "postgres://bot:secret@db.internal/bots?schema=greeter" });
 */
export class PostgresStore implements Store {
  readonly #target: PostgresTarget;
  readonly #options: PostgresStoreOptions;
  #sql: Sql | undefined;
  #lock: postgres.ReservedSql | undefined;
  #fence: number | null = null;
  #closing = new AbortController();
  #nextHandledPrune = 0;
  /** Handled records waiting for the next statement (see `markHandled`). */
  #handledQueue: { eventId: string; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #nextEffectPrune = 0;
  #crypto: PostgresCryptoSnapshots | undefined;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.#target = parsePostgresUrl(url, options.schema);
    this.#options = options;
  }

  /** The schema this store lives in. */
  get schema(): string {
    return this.#target.schema;
  }

  /** Where the store is (host, database, schema; never the password). */
  get description(): string {
    return this.#target.description;
  }

  /** The fencing number every write carries (null: no lease). */
  get fence(): number | null {
    return this.#fence;
  }

  /** Sets the fencing number of the lease this process holds; writes with a stale one are refused. */
  setFence(fence: number | null): void {
    this.#fence = fence;
  }

  /** The connection pool, for the lease and the migration tool. */
  get sql(): Sql {
    if (!this.#sql) throw new Error("store is not open");
    return this.#sql;
  }

  async open(): Promise<void> {
    if (this.#sql) return;
    this.#closing = new AbortController();
    // The driver loads with the first PostgreSQL store, not with niobot.
    const { default: connect } = await import("postgres");
    const sql = connect(this.#target.url, {
      max: this.#options.maxConnections ?? 4,
      onnotice: () => undefined,
      // Unqualified names resolve in the bot's schema only.
      // A process frozen inside a transaction (SIGSTOP, a partition) must not hold the lease row's
      // lock forever: the server ends such a session after 5 s, and a takeover goes on.
      connection: { search_path: `"${this.#target.schema}"`, application_name: "niobot", idle_in_transaction_session_timeout: 5_000 },
      idle_timeout: 60,
      connect_timeout: 10,
    });
    try {
      await this.#retry(() => migrate(sql, this.#target.schema));
      if (!this.#options.shared) {
        const lock = await sql.reserve();
        const [row] = await lock<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(hashtext(${`niobot-store:${this.#target.schema}`})) AS ok`;
        if (!row?.ok) {
          lock.release();
          throw new StoreLockedError(this.#target.description);
        }
        this.#lock = lock;
      }
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
    this.#sql = sql;
  }

  async close(): Promise<void> {
    const sql = this.#sql;
    if (!sql) return;
    this.#closing.abort();
    this.#sql = undefined;
    this.#crypto = undefined;
    // Ending the pool ends the lock's session, which releases it (no query: that connection may be gone).
    this.#lock?.release();
    this.#lock = undefined;
    await sql.end({ timeout: 5 });
  }

  /** Runs a query, retrying while the server is unreachable; a stale fence is never retried. */
  async #retry<T>(query: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#options.outageWaitMs ?? 300_000);
    for (let attempt = 0; ; attempt++) {
      try {
        return await query();
      } catch (error) {
        if ((error as { code?: unknown }).code === "NB001") throw new StoreFencedError(this.#fence);
        if (!isTransient(error) || this.#closing.signal.aborted) throw error;
        if (Date.now() >= deadline) throw new StoreUnavailableError(this.#target.description, error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
      }
    }
  }

  /** One statement (an implicit transaction). */
  #query<T extends readonly Row[]>(build: (sql: Sql) => PendingQuery<T>): Promise<T> {
    return this.#retry(async () => build(this.sql));
  }

  /** A transaction whose first statement checks the fence; the statements are pipelined. */
  #transaction(build: (tx: TransactionSql) => PendingQuery<Row[]>[]): Promise<unknown> {
    return this.#retry(() => this.sql.begin((tx) => [tx`SELECT fence_check(${this.#fence}::bigint)`, ...build(tx)]));
  }

  async getSyncToken(): Promise<string | undefined> {
    return this.#meta("sync_token");
  }

  async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
    await this.#transaction((tx) => {
      const out: PendingQuery<Row[]>[] = [];
      for (const change of changes) {
        if (change.kind === "room") {
          if (change.info)
            out.push(tx`INSERT INTO rooms (room_id, info) VALUES (${change.roomId}, ${JSON.stringify(change.info)}) ON CONFLICT (room_id) DO UPDATE SET info = excluded.info`);
          else
            out.push(
              tx`DELETE FROM rooms WHERE room_id = ${change.roomId}`,
              tx`DELETE FROM room_state WHERE room_id = ${change.roomId}`,
              tx`DELETE FROM account_data WHERE room_id = ${change.roomId}`,
            );
        } else if (change.kind === "state") {
          if (change.event)
            out.push(tx`INSERT INTO room_state (room_id, type, state_key, event) VALUES (${change.roomId}, ${change.type}, ${change.stateKey}, ${JSON.stringify(change.event)})
              ON CONFLICT (room_id, type, state_key) DO UPDATE SET event = excluded.event`);
          else out.push(tx`DELETE FROM room_state WHERE room_id = ${change.roomId} AND type = ${change.type} AND state_key = ${change.stateKey}`);
        } else if (change.content)
          out.push(tx`INSERT INTO account_data (room_id, type, content) VALUES (${change.roomId ?? ""}, ${change.type}, ${JSON.stringify(change.content)})
            ON CONFLICT (room_id, type) DO UPDATE SET content = excluded.content`);
        else out.push(tx`DELETE FROM account_data WHERE room_id = ${change.roomId ?? ""} AND type = ${change.type}`);
      }
      if (token !== undefined) out.push(tx`INSERT INTO meta (key, value) VALUES ('sync_token', ${token}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
      return out;
    });
  }

  async loadRooms(): Promise<StoredRooms> {
    const [rooms, state, data] = await this.#retry(() =>
      Promise.all([
        this.sql<{ info: string }[]>`SELECT info FROM rooms`,
        this.sql<{ room_id: string; event: string }[]>`SELECT room_id, event FROM room_state`,
        this.sql<{ room_id: string; type: string; content: string }[]>`SELECT room_id, type, content FROM account_data`,
      ]),
    );
    return {
      rooms: rooms.map((r) => JSON.parse(r.info) as StoredRoomInfo),
      state: state.map((r) => ({ ...(JSON.parse(r.event) as StoredRooms["state"][number]), roomId: r.room_id })),
      accountData: data.map((r) => ({ roomId: r.room_id === "" ? undefined : r.room_id, type: r.type, content: JSON.parse(r.content) as Record<string, unknown> })),
    };
  }

  async isHandled(eventId: string): Promise<boolean> {
    if (this.#handledQueue.some((q) => q.eventId === eventId)) return true;
    const rows = await this.#query((sql) => sql`SELECT 1 FROM handled WHERE event_id = ${eventId}`);
    return rows.length > 0;
  }

  /**
   * Records a handled event. The records of one turn of the event loop go in one statement
   * (one round trip instead of one per event); each call resolves only once the statement
   * holding its id committed, as if it had been written alone.
   */
  markHandled(eventId: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#handledQueue.push({ eventId, resolve, reject });
      if (this.#handledQueue.length === 1) setImmediate(() => void this.#flushHandled());
    });
  }

  async #flushHandled(): Promise<void> {
    const queued = this.#handledQueue;
    this.#handledQueue = [];
    try {
      await this.#writeHandled(queued.map((q) => q.eventId));
      for (const q of queued) q.resolve();
    } catch (error) {
      for (const q of queued) q.reject(error);
    }
  }

  async #writeHandled(eventIds: string[]): Promise<void> {
    const rows = await this.#query(
      (sql) => sql<{ seq: string }[]>`INSERT INTO handled (event_id) SELECT unnest(${eventIds}::text[]) WHERE fence_check(${this.#fence}::bigint) ON CONFLICT (event_id) DO NOTHING RETURNING seq`,
    );
    const seq = rows.length === 0 ? undefined : Math.max(...rows.map((r) => Number(r.seq)));
    // Pruned in steps: one range delete per 500 ids (sequence numbers may have gaps, so not `seq % 500`).
    if (seq !== undefined && seq >= this.#nextHandledPrune) {
      this.#nextHandledPrune = seq + 500;
      await this.#query((sql) => sql`DELETE FROM handled WHERE seq <= ${seq - HANDLED_EVENTS_KEPT} AND fence_check(${this.#fence}::bigint)`);
    }
  }

  async getLogin(): Promise<StoredLogin | undefined> {
    const raw = await this.#meta("login");
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredLogin);
  }

  async setLogin(login: StoredLogin | undefined): Promise<void> {
    await this.#setMeta("login", login === undefined ? undefined : JSON.stringify(login));
  }

  async putPendingEvent(event: StoredPendingEvent): Promise<void> {
    // A replaced event moves to the end, as with SQLite's INSERT OR REPLACE.
    await this.#transaction((tx) => [
      tx`DELETE FROM pending_events WHERE event_id = ${event.eventId}`,
      tx`INSERT INTO pending_events (event_id, room_id, sender, session_id, since, json)
        VALUES (${event.eventId}, ${event.roomId}, ${event.sender}, ${event.sessionId}, ${event.since}, ${event.json})`,
    ]);
  }

  async deletePendingEvents(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    await this.#transaction((tx) => [tx`DELETE FROM pending_events WHERE event_id = ANY(${eventIds as string[]})`]);
  }

  async loadPendingEvents(): Promise<StoredPendingEvent[]> {
    const rows = await this.#query(
      (sql) => sql<{ event_id: string; room_id: string; sender: string; session_id: string; since: string; json: string }[]>`
        SELECT event_id, room_id, sender, session_id, since, json FROM pending_events ORDER BY seq`,
    );
    return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, sender: r.sender, sessionId: r.session_id, since: Number(r.since), json: r.json }));
  }

  async kvGet(namespace: string, key: string): Promise<StoredKvEntry | undefined> {
    const [row] = await this.#query((sql) => sql<KvRow[]>`SELECT key, value, expires_at FROM bot_kv WHERE namespace = ${namespace} AND key = ${key}`);
    return row === undefined ? undefined : kvEntry(row);
  }

  async kvSet(namespace: string, key: string, value: string, expiresAt: number | undefined): Promise<void> {
    await this.#query(
      (sql) => sql`INSERT INTO bot_kv (namespace, key, value, expires_at) SELECT ${namespace}, ${key}, ${value}, ${expiresAt ?? null}::bigint WHERE fence_check(${this.#fence}::bigint)
        ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    );
  }

  async kvDelete(namespace: string, key: string): Promise<boolean> {
    const rows = await this.#query((sql) => sql`DELETE FROM bot_kv WHERE namespace = ${namespace} AND key = ${key} AND fence_check(${this.#fence}::bigint) RETURNING 1`);
    return rows.length > 0;
  }

  async kvList(namespace: string, options: KvListOptions = {}): Promise<StoredKvEntry[]> {
    const { prefix = "", after, limit } = options;
    // A range scan on the primary key (byte order: the columns are COLLATE "C"); no LIKE escaping.
    const rows = await this.#query(
      (sql) => sql<KvRow[]>`SELECT key, value, expires_at FROM bot_kv WHERE namespace = ${namespace} AND key >= ${prefix}
        ${after === undefined ? sql`` : sql`AND key > ${after}`} ORDER BY key LIMIT ${limit ?? null}::bigint`,
    );
    const out: StoredKvEntry[] = [];
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) break;
      out.push(kvEntry(row));
    }
    return out;
  }

  async kvPurgeExpired(now: number): Promise<number> {
    const rows = await this.#query((sql) => sql`DELETE FROM bot_kv WHERE expires_at IS NOT NULL AND expires_at <= ${now} AND fence_check(${this.#fence}::bigint) RETURNING 1`);
    return rows.length;
  }

  async getValue(key: string): Promise<string | undefined> {
    return this.#meta(`kv:${key}`);
  }

  async setValue(key: string, value: string | undefined): Promise<void> {
    await this.#setMeta(`kv:${key}`, value);
  }

  async getEffect(eventId: string, key: string): Promise<string | undefined> {
    const [row] = await this.#query((sql) => sql<{ record: string }[]>`SELECT record FROM effects WHERE event_id = ${eventId} AND key = ${key}`);
    return row?.record;
  }

  async setEffect(eventId: string, key: string, record: string | undefined): Promise<void> {
    if (record === undefined) {
      await this.#query((sql) => sql`DELETE FROM effects WHERE event_id = ${eventId} AND key = ${key} AND fence_check(${this.#fence}::bigint)`);
      return;
    }
    // An update keeps the row's seq: retention counts from when the record was first written.
    const [row] = await this.#query(
      (sql) => sql<{ seq: string }[]>`INSERT INTO effects (event_id, key, record) SELECT ${eventId}, ${key}, ${record} WHERE fence_check(${this.#fence}::bigint)
        ON CONFLICT (event_id, key) DO UPDATE SET record = excluded.record RETURNING seq`,
    );
    const seq = row === undefined ? undefined : Number(row.seq);
    if (seq !== undefined && seq >= this.#nextEffectPrune) {
      this.#nextEffectPrune = seq + 500;
      await this.#query((sql) => sql`DELETE FROM effects WHERE seq <= ${seq - EFFECTS_KEPT} AND fence_check(${this.#fence}::bigint)`);
    }
  }

  /** The crypto snapshot records, kept in this schema: the crypto store needs no file. */
  cryptoSnapshots(): CryptoSnapshotStore {
    this.#crypto ??= new PostgresCryptoSnapshots({
      description: this.#target.description,
      query: (build) => this.#query(build),
      transaction: (build) => this.#transaction(build),
    });
    return this.#crypto;
  }

  async #meta(key: string): Promise<string | undefined> {
    const [row] = await this.#query((sql) => sql<{ value: string }[]>`SELECT value FROM meta WHERE key = ${key}`);
    return row?.value;
  }

  async #setMeta(key: string, value: string | undefined): Promise<void> {
    if (value === undefined) await this.#query((sql) => sql`DELETE FROM meta WHERE key = ${key} AND fence_check(${this.#fence}::bigint)`);
    else
      await this.#query(
        (sql) => sql`INSERT INTO meta (key, value) SELECT ${key}, ${value} WHERE fence_check(${this.#fence}::bigint) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      );
  }
}

interface KvRow {
  key: string;
  value: string;
  expires_at: string | null;
}

function kvEntry(row: KvRow): StoredKvEntry {
  return { key: row.key, value: row.value, expiresAt: row.expires_at === null ? undefined : Number(row.expires_at) };
}
