/**
 * The crypto snapshot in PostgreSQL: the same records the SQLite crypto file
 * holds (`src/crypto/snapshot-db.ts`), one row per IndexedDB record, in the
 * bot's schema. Every write is fenced like the rest of the store, so a
 * replica that lost its lease cannot overwrite the keys of the active one.
 *
 * @module
 */
import * as v8 from "node:v8";
import type { PendingQuery, Row, Sql, TransactionSql } from "postgres";
import { keyId, type DatabaseSnapshot, type IDBValidKey, type ObjectStoreSnapshot, type SnapshotMeta, type StoreDelta } from "../crypto-snapshot.js";
import type { CryptoSnapshotStore } from "../crypto-snapshot.js";

/** What the crypto snapshots need of the store: its retrying, fenced queries. */
export interface SnapshotQueries {
  description: string;
  query<T extends readonly Row[]>(build: (sql: Sql) => PendingQuery<T>): Promise<T>;
  transaction(build: (tx: TransactionSql) => PendingQuery<Row[]>[]): Promise<unknown>;
}

/** Rows per multi-row insert. */
const CHUNK = 500;

/** The crypto snapshot records of one bot schema. */
export class PostgresCryptoSnapshots implements CryptoSnapshotStore {
  constructor(private readonly q: SnapshotQueries) {}

  get description(): string {
    return this.q.description;
  }

  async load(): Promise<{ meta: SnapshotMeta; databases: DatabaseSnapshot[] } | undefined> {
    const [owner] = await this.q.query((sql) => sql<{ value: string }[]>`SELECT value FROM crypto_meta WHERE key = 'owner'`);
    if (!owner) return undefined;
    const meta = JSON.parse(owner.value) as SnapshotMeta;
    const dbs = await this.q.query((sql) => sql<{ name: string; version: number; stores: Buffer }[]>`SELECT name, version, stores FROM crypto_dbs`);
    const databases = dbs.map((row) => ({
      name: row.name,
      version: row.version,
      stores: (v8.deserialize(row.stores) as Omit<ObjectStoreSnapshot, "records">[]).map((s) => ({ ...s, records: [] as ObjectStoreSnapshot["records"] })),
    }));
    const byStore = new Map(databases.flatMap((d) => d.stores.map((s) => [`${d.name}\n${s.name}`, s] as const)));
    const records = await this.q.query((sql) => sql<{ db: string; store: string; key: Buffer; value: Buffer }[]>`SELECT db, store, key, value FROM crypto_records`);
    for (const row of records) byStore.get(`${row.db}\n${row.store}`)?.records.push({ key: v8.deserialize(row.key) as IDBValidKey, value: v8.deserialize(row.value) });
    return { meta: { userId: meta.userId, deviceId: meta.deviceId, clean: meta.clean === true }, databases };
  }

  async writeFull(meta: SnapshotMeta, databases: readonly DatabaseSnapshot[]): Promise<void> {
    const records = databases.flatMap((d) => d.stores.flatMap((s) => s.records.map((r) => recordRow(d.name, s.name, r.key, r.value))));
    await this.q.transaction((tx) => {
      const out: PendingQuery<Row[]>[] = [tx`DELETE FROM crypto_records`, tx`DELETE FROM crypto_dbs`];
      for (const d of databases) {
        const stores = v8.serialize(d.stores.map((s) => ({ name: s.name, keyPath: s.keyPath, autoIncrement: s.autoIncrement, indexes: s.indexes })));
        out.push(tx`INSERT INTO crypto_dbs (name, version, stores) VALUES (${d.name}, ${d.version}, ${stores})`);
      }
      for (let i = 0; i < records.length; i += CHUNK) out.push(tx`INSERT INTO crypto_records ${tx(records.slice(i, i + CHUNK), "db", "store", "id", "key", "value")}`);
      out.push(ownerRow(tx, meta));
      return out;
    });
  }

  async applyDeltas(meta: SnapshotMeta, deltas: readonly StoreDelta[]): Promise<void> {
    await this.q.transaction((tx) => {
      const out: PendingQuery<Row[]>[] = [];
      for (const delta of deltas) {
        if (delta.all) out.push(tx`DELETE FROM crypto_records WHERE db = ${delta.db} AND store = ${delta.store}`);
        for (const r of delta.records) {
          const row = recordRow(delta.db, delta.store, r.key, r.value);
          if (r.value === undefined) out.push(tx`DELETE FROM crypto_records WHERE db = ${row.db} AND store = ${row.store} AND id = ${row.id}`);
          else
            out.push(tx`INSERT INTO crypto_records (db, store, id, key, value) VALUES (${row.db}, ${row.store}, ${row.id}, ${row.key}, ${row.value})
              ON CONFLICT (db, store, id) DO UPDATE SET key = excluded.key, value = excluded.value`);
        }
      }
      out.push(ownerRow(tx, meta));
      return out;
    });
  }
}

function recordRow(db: string, store: string, key: IDBValidKey, value: unknown): { db: string; store: string; id: Buffer; key: Buffer; value: Buffer } {
  // The id is bytes: a text column could not hold a key with a NUL in it.
  return { db, store, id: Buffer.from(keyId(key), "utf8"), key: v8.serialize(key), value: value === undefined ? Buffer.alloc(0) : v8.serialize(value) };
}

function ownerRow(tx: TransactionSql, meta: SnapshotMeta): PendingQuery<Row[]> {
  const owner = JSON.stringify({ format: 2, userId: meta.userId, deviceId: meta.deviceId, clean: meta.clean, savedAt: Date.now() });
  return tx`INSERT INTO crypto_meta (key, value) VALUES ('owner', ${owner}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
}
