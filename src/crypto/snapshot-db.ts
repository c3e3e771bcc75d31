/**
 * The crypto store file: an SQLite database holding the IndexedDB snapshot
 * one record per row, so a save writes only the records the machine changed
 * (a to-device message touches a few; the room keys stay put) in one
 * transaction, durable when it commits. A schema change, or the first save,
 * writes the whole file aside and renames it into place.
 *
 * @module
 */
import { open as openFile, rename, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import * as v8 from "node:v8";
import Database from "better-sqlite3";
import { keyId, SQLITE_HEADER, type DatabaseSnapshot, type IDBValidKey, type ObjectStoreSnapshot, type SnapshotMeta, type StoreDelta } from "../storage/crypto-snapshot.js";

export { keyId, SQLITE_HEADER, type SnapshotMeta, type StoreDelta };



const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dbs (name TEXT PRIMARY KEY, version INTEGER NOT NULL, stores BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (db TEXT NOT NULL, store TEXT NOT NULL, id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY (db, store, id));
`;


/** Schema of the snapshot's databases without records, as text to compare. */
export function schemaKey(databases: readonly DatabaseSnapshot[]): string {
  return JSON.stringify(databases.map((d) => [d.name, d.version, d.stores.map(storeSchema)]));
}

function storeSchema(s: ObjectStoreSnapshot): Omit<ObjectStoreSnapshot, "records"> {
  return { name: s.name, keyPath: s.keyPath, autoIncrement: s.autoIncrement, indexes: s.indexes };
}

function connect(path: string, journal: "WAL" | "DELETE"): Database.Database {
  const db = new Database(path, { timeout: 0 });
  try {
    // Room key records are 1-3 KB: with 16 KiB pages they fit in a page instead of spilling to overflow pages.
    db.pragma("page_size = 16384");
    // Committed means on disk: a save resolves only once its records are durable.
    db.pragma(`journal_mode = ${journal}`);
    db.pragma("synchronous = FULL");
    db.exec(SCHEMA);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Reads a whole snapshot file. Throws on anything that is not one. */
export function readSnapshotDb(path: string): { meta: SnapshotMeta; databases: DatabaseSnapshot[] } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const meta = db.prepare("SELECT value FROM meta WHERE key = 'owner'").get() as { value: string } | undefined;
    if (!meta) throw new Error("not a niobot crypto store (no owner)");
    const owner = JSON.parse(meta.value) as SnapshotMeta;
    const databases = (db.prepare("SELECT name, version, stores FROM dbs").all() as { name: string; version: number; stores: Buffer }[]).map((row) => ({
      name: row.name,
      version: row.version,
      stores: (v8.deserialize(row.stores) as Omit<ObjectStoreSnapshot, "records">[]).map((s) => ({ ...s, records: [] as ObjectStoreSnapshot["records"] })),
    }));
    const byStore = new Map(databases.flatMap((d) => d.stores.map((s) => [`${d.name}\n${s.name}`, s] as const)));
    for (const row of db.prepare("SELECT db, store, key, value FROM records").iterate() as IterableIterator<{ db: string; store: string; key: Buffer; value: Buffer }>)
      byStore.get(`${row.db}\n${row.store}`)?.records.push({ key: v8.deserialize(row.key) as IDBValidKey, value: v8.deserialize(row.value) });
    return { meta: { userId: owner.userId, deviceId: owner.deviceId, clean: owner.clean === true }, databases };
  } finally {
    db.close();
  }
}

/** Most record values {@link SnapshotDb} remembers to skip rewriting them unchanged. */
const RECENT_RECORDS = 64;
/** Larger values are not remembered (room keys and the like are written once anyway). */
const RECENT_MAX_BYTES = 16 * 1024;

/** An open snapshot file that takes incremental saves. */
export class SnapshotDb {
  #db: Database.Database;
  /** Committed bytes of recently written small records: the machine rewrites some (its account) on every sync unchanged. */
  readonly #recent = new Map<string, Buffer>();
  #clean: boolean | undefined;
  #statements: { put: Database.Statement; del: Database.Statement; clear: Database.Statement } | undefined;

  private constructor(readonly path: string, db: Database.Database) {
    this.#db = db;
  }

  /** Opens an existing snapshot file for incremental saves. */
  static open(path: string): SnapshotDb {
    return new SnapshotDb(path, connect(path, "WAL"));
  }

  /**
   * Writes a whole snapshot to a new private file and renames it over `path`
   * (a crash leaves the old file or the new one); returns it open.
   */
  static async writeFull(path: string, meta: SnapshotMeta, databases: readonly DatabaseSnapshot[], previous?: SnapshotDb): Promise<SnapshotDb> {
    const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      // Created private first: SQLite gives its journal files the database file's mode.
      await (await openFile(temp, "w", 0o600)).close();
      // A rollback journal: when the one transaction commits, the file itself is complete and synced.
      const db = connect(temp, "DELETE");
      try {
        const putRecord = db.prepare("INSERT OR REPLACE INTO records (db, store, id, key, value) VALUES (?, ?, ?, ?, ?)");
        db.transaction(() => {
          writeMeta(db, meta);
          for (const d of databases) {
            db.prepare("INSERT OR REPLACE INTO dbs (name, version, stores) VALUES (?, ?, ?)").run(d.name, d.version, v8.serialize(d.stores.map(storeSchema)));
            for (const s of d.stores) for (const r of s.records) putRecord.run(d.name, s.name, keyId(r.key), v8.serialize(r.key), v8.serialize(r.value));
          }
        })();
      } finally {
        db.close();
      }
      previous?.close();
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDirectory(dirname(path));
    const opened = SnapshotDb.open(path);
    opened.#clean = meta.clean;
    return opened;
  }

  /**
   * Writes changed records and the owner in one durable transaction. Records
   * whose bytes equal what was last committed for them are left out, and
   * when nothing is left (and the clean flag is unchanged) there is no
   * transaction at all. Returns the number of records written.
   */
  applyDeltas(meta: SnapshotMeta, deltas: readonly StoreDelta[]): number {
    const writes: { db: string; store: string; id: string; key: IDBValidKey; value: Buffer | undefined }[] = [];
    const clears: StoreDelta[] = [];
    for (const delta of deltas) {
      if (delta.all) clears.push(delta);
      for (const r of delta.records) {
        const id = keyId(r.key);
        const value = r.value === undefined ? undefined : v8.serialize(r.value);
        const known = this.#recent.get(recentKey(delta.db, delta.store, id));
        if (!delta.all && value !== undefined && known !== undefined && known.equals(value)) continue;
        writes.push({ db: delta.db, store: delta.store, id, key: r.key, value });
      }
    }
    if (writes.length === 0 && clears.length === 0 && meta.clean === this.#clean) return 0;
    const db = this.#db;
    // Compiled once per file: this runs after every sync batch that changed something.
    const st = (this.#statements ??= {
      put: db.prepare("INSERT OR REPLACE INTO records (db, store, id, key, value) VALUES (?, ?, ?, ?, ?)"),
      del: db.prepare("DELETE FROM records WHERE db = ? AND store = ? AND id = ?"),
      clear: db.prepare("DELETE FROM records WHERE db = ? AND store = ?"),
    });
    const { put, del, clear } = st;
    db.transaction(() => {
      for (const delta of clears) clear.run(delta.db, delta.store);
      for (const w of writes) {
        if (w.value === undefined) del.run(w.db, w.store, w.id);
        else put.run(w.db, w.store, w.id, v8.serialize(w.key), w.value);
      }
      writeMeta(db, meta);
    })();
    // Committed: only now may the remembered bytes stand for what is on disk.
    this.#clean = meta.clean;
    for (const delta of clears) for (const k of [...this.#recent.keys()]) if (k.startsWith(recentKey(delta.db, delta.store, ""))) this.#recent.delete(k);
    for (const w of writes) this.#remember(recentKey(w.db, w.store, w.id), w.value);
    return writes.length;
  }

  #remember(key: string, value: Buffer | undefined): void {
    this.#recent.delete(key);
    if (value === undefined || value.length > RECENT_MAX_BYTES) return;
    this.#recent.set(key, value);
    if (this.#recent.size > RECENT_RECORDS) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function recentKey(db: string, store: string, id: string): string {
  return `${db}\n${store}\n${id}`;
}

/** The rename is durable only once the directory entry is flushed. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await openFile(dir, "r");
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}

function writeMeta(db: Database.Database, meta: SnapshotMeta): void {
  const owner = JSON.stringify({ format: 2, userId: meta.userId, deviceId: meta.deviceId, clean: meta.clean, savedAt: Date.now() });
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('owner', ?)").run(owner);
}
