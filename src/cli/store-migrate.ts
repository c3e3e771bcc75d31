/**
 * Copies an SQLite store (and its crypto file) into a PostgreSQL schema, so
 * a bot moves to PostgreSQL with the same device, login, sync position,
 * rooms, DM bookkeeping, pending events, `ctx.once` records and `bot.kv`
 * data. Behind `niobot store migrate`.
 *
 * The source is opened the way the bot opens it (exclusively), so a running
 * bot makes the copy fail instead of racing it; the target schema must be
 * empty, and everything is written in one transaction.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import * as v8 from "node:v8";
import Database from "better-sqlite3";
import type { PendingQuery, Row } from "postgres";
import { keyId, readSnapshotDb, SQLITE_HEADER } from "../crypto/snapshot-db.js";
import { SqliteStore } from "../storage/sqlite.js";
import { PostgresStore } from "../storage/postgres/store.js";

/** What {@link migrateSqliteToPostgres} copied. */
export interface MigrationReport {
  /** The target, without its password. */
  target: string;
  rows: { meta: number; handled: number; rooms: number; roomState: number; accountData: number; kv: number; pendingEvents: number; effects: number };
  /** Crypto records copied, or undefined when there was no crypto file. */
  cryptoRecords: number | undefined;
  /** The device of the copied login and crypto store. */
  deviceId: string | undefined;
}

/** The target schema already holds a store. */
export class TargetNotEmptyError extends Error {
  override readonly name = "TargetNotEmptyError";
  constructor(readonly target: string) {
    super(`${target} already holds a store (a login, a sync token or crypto keys); migrate into an empty schema`);
  }
}

/** Options of {@link migrateSqliteToPostgres}. */
export interface MigrateOptions {
  /** The SQLite store file. */
  from: string;
  /** The PostgreSQL URL. */
  to: string;
  /** The target schema (default: the URL's `schema` parameter, else `niobot`). */
  schema?: string;
  /** The crypto file (default `<from>.crypto`, when it exists). */
  cryptoFrom?: string;
}

/**
 * Copies the store.
 *
 * @throws `StoreLockedError` when a bot has the SQLite store (or the schema) open.
 * @throws {@link TargetNotEmptyError} when the schema already holds a store.
 */
export async function migrateSqliteToPostgres(o: MigrateOptions): Promise<MigrationReport> {
  if (!existsSync(o.from)) throw new Error(`no SQLite store at ${o.from}`);
  // Opened as the bot does: this fails while a bot runs on it.
  const lock = new SqliteStore(o.from);
  await lock.open();
  await lock.close();
  const cryptoPath = o.cryptoFrom ?? `${o.from}.crypto`;
  const crypto = existsSync(cryptoPath) ? readCrypto(cryptoPath) : undefined;
  const src = new Database(o.from, { readonly: true, fileMustExist: true });
  const target = new PostgresStore(o.to, { schema: o.schema });
  try {
    const all = <T>(query: string): T[] => src.prepare(query).all() as T[];
    const meta = all<{ key: string; value: string }>("SELECT key, value FROM meta");
    const handled = all<{ event_id: string }>("SELECT event_id FROM handled ORDER BY seq");
    const rooms = all<{ room_id: string; info: string }>("SELECT room_id, info FROM rooms");
    const roomState = all<{ room_id: string; type: string; state_key: string; event: string }>("SELECT room_id, type, state_key, event FROM room_state");
    const accountData = all<{ room_id: string; type: string; content: string }>("SELECT room_id, type, content FROM account_data");
    const kv = all<{ namespace: string; key: string; value: string; expires_at: number | null }>("SELECT namespace, key, value, expires_at FROM bot_kv");
    const pending = all<{ event_id: string; room_id: string; sender: string; session_id: string; since: number; json: string }>(
      "SELECT event_id, room_id, sender, session_id, since, json FROM pending_events ORDER BY seq",
    );
    const effects = all<{ event_id: string; key: string; record: string }>("SELECT event_id, key, record FROM effects ORDER BY seq");

    await target.open();
    const sql = target.sql;
    await sql.begin(async (tx) => {
      const [used] = await tx<{ n: number }[]>`SELECT (SELECT count(*) FROM meta WHERE key IN ('login', 'sync_token')) + (SELECT count(*) FROM crypto_meta) AS n`;
      if (Number(used?.n) > 0) throw new TargetNotEmptyError(target.description);
      const out: PendingQuery<Row[]>[] = [];
      const insert = (table: string, rows: readonly Record<string, unknown>[]): void => {
        if (rows.length === 0) return;
        const columns = Object.keys(rows[0]!);
        // Chunks keep each statement under the protocol's 65535 parameters.
        for (let i = 0; i < rows.length; i += 1000) out.push(tx`INSERT INTO ${tx(table)} ${tx(rows.slice(i, i + 1000) as Record<string, unknown>[], ...columns)}`);
      };
      insert("meta", meta);
      insert("handled", handled);
      insert("rooms", rooms);
      insert("room_state", roomState);
      insert("account_data", accountData);
      insert("bot_kv", kv);
      insert("pending_events", pending);
      insert("effects", effects);
      if (crypto) {
        insert("crypto_dbs", crypto.dbs);
        insert("crypto_records", crypto.records);
        insert("crypto_meta", [{ key: "owner", value: crypto.owner }]);
      }
      await Promise.all(out);
    });
    const login = meta.find((m) => m.key === "login");
    return {
      target: target.description,
      rows: { meta: meta.length, handled: handled.length, rooms: rooms.length, roomState: roomState.length, accountData: accountData.length, kv: kv.length, pendingEvents: pending.length, effects: effects.length },
      cryptoRecords: crypto?.records.length,
      deviceId: login ? (JSON.parse(login.value) as { deviceId?: string }).deviceId : crypto?.deviceId,
    };
  } finally {
    src.close();
    await target.close();
  }
}

/** The crypto file's rows, in the PostgreSQL layout. */
function readCrypto(path: string): { owner: string; deviceId: string; dbs: Record<string, unknown>[]; records: Record<string, unknown>[] } {
  const head = readFileSync(path).subarray(0, SQLITE_HEADER.length);
  if (!head.equals(SQLITE_HEADER)) throw new Error(`${path} is in the old single-file crypto format: start the bot once with this niobot version to convert it, then migrate`);
  const { meta, databases } = readSnapshotDb(path);
  const owner = JSON.stringify({ format: 2, userId: meta.userId, deviceId: meta.deviceId, clean: meta.clean, savedAt: Date.now() });
  const dbs = databases.map((d) => ({
    name: d.name,
    version: d.version,
    stores: v8.serialize(d.stores.map((s) => ({ name: s.name, keyPath: s.keyPath, autoIncrement: s.autoIncrement, indexes: s.indexes }))),
  }));
  const records = databases.flatMap((d) =>
    d.stores.flatMap((s) => s.records.map((r) => ({ db: d.name, store: s.name, id: Buffer.from(keyId(r.key), "utf8"), key: v8.serialize(r.key), value: v8.serialize(r.value) }))),
  );
  return { owner, deviceId: meta.deviceId, dbs, records };
}
