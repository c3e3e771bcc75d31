/**
 * The crypto store on disk. The wasm crypto machine keeps its keys in
 * IndexedDB, which Node lacks: `fake-indexeddb` provides it in memory, and
 * this file makes it durable in an SQLite file (`snapshot-db.ts`), plus a
 * lock so one process at a time owns the store.
 *
 * Saves are incremental: the IndexedDB hooks report which records the
 * machine wrote, and a save writes just those in one transaction, so its
 * cost follows what changed, not how many room keys the bot holds. The first
 * save, a schema change, or a save after a failed one writes the whole file
 * aside and renames it into place. Files of the earlier single-snapshot
 * format are read and rewritten in the new one.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import * as v8 from "node:v8";
import Database from "better-sqlite3";
import {
  databasesWithPrefix,
  deleteDatabases,
  exportDatabases,
  importDatabases,
  readRecords,
  readSchemas,
  type DatabaseSnapshot,
  type IDBFactory,
  type IDBValidKey,
} from "./idb-snapshot.js";
import { cryptoIndexedDB, writesObserved, type IDBWrite } from "./indexeddb.js";
import { CryptoStoreLockedError } from "./errors.js";
import { keyId, readSnapshotDb, schemaKey, SnapshotDb, SQLITE_HEADER, type StoreDelta } from "./snapshot-db.js";
import type { CryptoSnapshotStore } from "./snapshot-store.js";

export { CryptoStoreLockedError };

/** Who a snapshot belongs to; a snapshot is only valid for this exact device. */
export interface CryptoStoreMeta {
  userId: string;
  deviceId: string;
  /** False while the store is open: a snapshot read with `clean: false` comes from a crash. */
  clean: boolean;
}

/** The format before records were stored one per row: one v8-serialized file. */
interface LegacySnapshotFile extends CryptoStoreMeta {
  format: 1;
  savedAt: number;
  databases: DatabaseSnapshot[];
}

/** What {@link CryptoStoreFile.open} found on disk. */
export type RestoreResult =
  | { kind: "none" }
  | { kind: "restored"; meta: CryptoStoreMeta }
  | { kind: "unreadable"; error: Error };

const LEGACY_MAGIC = Buffer.from("NIOBOT-CRYPTO-1\n");

/** Records the machine changed since the last save, by database (unprefixed) and object store. */
type PendingWrites = Map<string, Map<string, Map<string, IDBValidKey> | "all">>;

/**
 * One crypto store: a unique IndexedDB name prefix in this process, backed
 * (when `path` is given) by a snapshot file and a lock file beside it.
 */
export class CryptoStoreFile {
  /** The IndexedDB name the crypto machine opens; unique per open store in this process. */
  readonly storeName = `niobot-${randomBytes(6).toString("hex")}`;
  #lock: Database.Database | undefined;
  #meta: CryptoStoreMeta | undefined;
  #dirty = true;
  /** The next save must write everything (first save, old format, a failed save, unobserved writes). */
  #full = true;
  #writes: PendingWrites = new Map();
  #file: SnapshotDb | undefined;
  #savedSchema: string | undefined;
  #saving: Promise<void> = Promise.resolve();
  #unwatch: (() => void) | undefined;
  readonly #factory: IDBFactory;

  /**
   * @param path the snapshot file; undefined keeps the store in memory only (or in `remote`).
   * @param remote a store that keeps the snapshot itself (PostgreSQL), used when there is no `path`.
   */
  constructor(readonly path: string | undefined, readonly remote?: CryptoSnapshotStore) {
    const { factory, watchWrites } = cryptoIndexedDB();
    this.#factory = factory;
    this.#unwatch = watchWrites(this.storeName, (write) => this.#noteWrite(write));
  }

  /** Whether the store survives a restart. */
  get persistent(): boolean {
    return this.path !== undefined || this.remote !== undefined;
  }

  /**
   * Takes the lock and loads the snapshot, if any, into IndexedDB.
   *
   * @throws {@link CryptoStoreLockedError} when another process holds the store.
   */
  async open(): Promise<RestoreResult> {
    if (!this.path) return this.remote ? this.#openRemote(this.remote) : { kind: "none" };
    mkdirSync(dirname(this.path), { recursive: true });
    this.#lock = takeLock(`${this.path}.lock`, this.path);
    await removeLeftoverTemps(this.path);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "none" };
      return { kind: "unreadable", error: error as Error };
    }
    try {
      let meta: CryptoStoreMeta;
      let databases: DatabaseSnapshot[];
      const sqlite = bytes.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER);
      if (sqlite) ({ meta, databases } = readSnapshotDb(this.path));
      else if (bytes.subarray(0, LEGACY_MAGIC.length).equals(LEGACY_MAGIC)) {
        const file = v8.deserialize(bytes.subarray(LEGACY_MAGIC.length)) as LegacySnapshotFile;
        if (file.format !== 1 || !Array.isArray(file.databases)) throw new Error("unknown crypto store format");
        meta = { userId: file.userId, deviceId: file.deviceId, clean: file.clean };
        databases = file.databases;
      } else throw new Error("not a niobot crypto store");
      await importDatabases(this.#factory, databases, (name) => this.storeName + name);
      if (sqlite) {
        this.#file = SnapshotDb.open(this.path);
        this.#savedSchema = schemaKey(databases);
        this.#full = false;
      }
      // The import itself wrote every record: nothing of it is a change.
      this.#writes = new Map();
      this.#dirty = false;
      return { kind: "restored", meta };
    } catch (error) {
      this.#file?.close();
      this.#file = undefined;
      await this.wipe();
      // Kept aside for forensics; the next save writes a fresh store.
      await rename(this.path, `${this.path}.unreadable-${Date.now()}`).catch(() => undefined);
      return { kind: "unreadable", error: error as Error };
    }
  }

  /** Loads the snapshot a remote store keeps; its lock is the store's own (one active process per store). */
  async #openRemote(remote: CryptoSnapshotStore): Promise<RestoreResult> {
    try {
      const loaded = await remote.load();
      if (!loaded) return { kind: "none" };
      await importDatabases(this.#factory, loaded.databases, (name) => this.storeName + name);
      this.#savedSchema = schemaKey(loaded.databases);
      this.#full = false;
      this.#writes = new Map();
      this.#dirty = false;
      return { kind: "restored", meta: loaded.meta };
    } catch (error) {
      await this.wipe();
      // The next save replaces the stored records with a fresh store.
      return { kind: "unreadable", error: error as Error };
    }
  }

  /** Drops everything loaded (a snapshot of another device, or an unreadable one). */
  async wipe(): Promise<void> {
    await deleteDatabases(this.#factory, await databasesWithPrefix(this.#factory, this.storeName));
    this.#dirty = true;
    this.#full = true;
  }

  /** Sets who the store belongs to; saved with every snapshot. */
  setOwner(userId: string, deviceId: string): void {
    this.#meta = { userId, deviceId, clean: false };
    this.#dirty = true;
  }

  /** Whether the machine wrote something since the last save. */
  get dirty(): boolean {
    return this.#dirty || !writesObserved();
  }

  /**
   * Writes what changed since the last save: the changed records only, in
   * one transaction (the whole store on the first save or a schema change).
   * Saves are serialized; a call made during a save waits for it and then
   * saves again if there were new writes, so a resolved `save()` covers
   * every write that happened before it was called.
   */
  save(): Promise<void> {
    this.#queued++;
    const next = this.#saving.then(() => this.#saveNow(false)).finally(() => void this.#queued--);
    this.#saving = next.catch(() => undefined);
    return next;
  }

  /** Saves queued or running. */
  #queued = 0;

  /**
   * Whether {@link CryptoStoreFile.save} has anything to do or wait for: a write since the last
   * save, or a save still queued or running. When not, a caller that only needs "everything before
   * now is saved" (every sync batch) can skip the call and its promises.
   */
  get saveNeeded(): boolean {
    return this.#queued > 0 || (this.persistent && this.#meta !== undefined && this.dirty);
  }

  #noteWrite(write: IDBWrite): void {
    this.#dirty = true;
    if (write.store === undefined) return;
    const db = write.db.slice(this.storeName.length);
    let stores = this.#writes.get(db);
    if (!stores) this.#writes.set(db, (stores = new Map()));
    const keys = stores.get(write.store);
    if (keys === "all") return;
    if (write.key === undefined) stores.set(write.store, "all");
    else if (keys) keys.set(keyId(write.key), write.key);
    else stores.set(write.store, new Map([[keyId(write.key), write.key]]));
  }

  async #saveNow(clean: boolean): Promise<void> {
    if (!this.persistent || !this.#meta || (!this.dirty && !clean)) return;
    const writes = this.#writes;
    this.#writes = new Map();
    this.#dirty = false;
    try {
      const meta = { ...this.#meta, clean };
      const names = await databasesWithPrefix(this.#factory, this.storeName);
      const schema = schemaKey((await readSchemas(this.#factory, names)).map((db) => ({ ...db, name: db.name.slice(this.storeName.length) })));
      const remote = this.path ? undefined : this.remote;
      if (this.#full || (!this.#file && !remote) || !writesObserved() || schema !== this.#savedSchema) {
        const databases = (await exportDatabases(this.#factory, names)).map((db) => ({ ...db, name: db.name.slice(this.storeName.length) }));
        if (remote) await remote.writeFull(meta, databases);
        else this.#file = await SnapshotDb.writeFull(this.path!, meta, databases, this.#file);
        this.#savedSchema = schemaKey(databases);
        this.#full = false;
        return;
      }
      const deltas: StoreDelta[] = [];
      for (const [db, stores] of writes) {
        const wanted = new Map([...stores].map(([store, keys]) => [store, keys === "all" ? ("all" as const) : [...keys.values()]]));
        for (const [store, read] of await readRecords(this.#factory, this.storeName + db, wanted)) deltas.push({ db, store, ...read });
      }
      if (remote) await remote.applyDeltas(meta, deltas);
      else this.#file!.applyDeltas(meta, deltas);
    } catch (error) {
      // What this save took is lost from the change list: the next one writes everything.
      this.#dirty = true;
      this.#full = true;
      throw error;
    }
  }

  /** Releases the store without saving (opening failed half-way). */
  async abandon(): Promise<void> {
    this.#meta = undefined;
    await this.close();
  }

  /** Saves a final snapshot marked clean, frees the in-memory databases and releases the lock. */
  async close(): Promise<void> {
    try {
      await this.#saving;
      if (this.#meta) await this.#saveNow(true);
    } finally {
      this.#unwatch?.();
      this.#unwatch = undefined;
      this.#file?.close();
      this.#file = undefined;
      await deleteDatabases(this.#factory, await databasesWithPrefix(this.#factory, this.storeName)).catch(() => undefined);
      this.#lock?.close();
      this.#lock = undefined;
    }
  }
}

/**
 * The lock is an SQLite file held in exclusive locking mode: the operating
 * system drops it when the process dies, so a crash never leaves a stale lock
 * behind (unlike a pid file), and a second opener fails at once.
 */
function takeLock(lockPath: string, storePath: string): Database.Database {
  const db = new Database(lockPath, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS owner (pid INTEGER)");
    db.exec("BEGIN EXCLUSIVE; DELETE FROM owner; COMMIT;");
    db.prepare("INSERT INTO owner (pid) VALUES (?)").run(process.pid);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof Error && /locked|busy/i.test(error.message)) throw new CryptoStoreLockedError(storePath);
    throw error;
  }
}

/**
 * Deletes temp files a crash left mid-write: they hold keys, and nothing
 * reads them. Only called with the lock held, so no other writer owns them.
 */
async function removeLeftoverTemps(path: string): Promise<void> {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  // Exactly the names a full save makes: `<store>.<pid>.<8 hex>.tmp`, and SQLite's journals beside it.
  for (const name of names)
    if (name.startsWith(prefix) && /^\d+\.[0-9a-f]{8}\.tmp(?:-journal|-wal|-shm)?$/.test(name.slice(prefix.length))) await rm(join(dirname(path), name), { force: true });
}
