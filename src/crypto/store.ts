/**
 * The crypto store on disk. The wasm crypto machine keeps its keys in
 * IndexedDB, which Node lacks: `fake-indexeddb` provides it in memory, and
 * this file makes it durable with a snapshot file written atomically (temp
 * file, fsync, rename) whenever the machine wrote something, plus a lock so
 * one process at a time owns the store.
 *
 * Why a snapshot and not a database per record: the crypto state of a bot is
 * small (tens of kilobytes plus ~1 KB per room key), a snapshot costs a few
 * milliseconds, and a whole-file rename is trivially crash-safe.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import * as v8 from "node:v8";
import Database from "better-sqlite3";
import {
  databasesWithPrefix,
  deleteDatabases,
  exportDatabases,
  importDatabases,
  type DatabaseSnapshot,
  type IDBFactory,
} from "./idb-snapshot.js";
import { cryptoIndexedDB, writesObserved } from "./indexeddb.js";

/** Another process (or another bot in this process) has the crypto store open. */
export class CryptoStoreLockedError extends Error {
  override readonly name = "CryptoStoreLockedError";
  constructor(readonly path: string) {
    super(`the crypto store ${path} is in use by another process (one bot process per store)`);
  }
}

/** Who a snapshot belongs to; a snapshot is only valid for this exact device. */
export interface CryptoStoreMeta {
  userId: string;
  deviceId: string;
  /** False while the store is open: a snapshot read with `clean: false` comes from a crash. */
  clean: boolean;
}

interface SnapshotFile extends CryptoStoreMeta {
  format: 1;
  savedAt: number;
  databases: DatabaseSnapshot[];
}

/** What {@link CryptoStoreFile.open} found on disk. */
export type RestoreResult =
  | { kind: "none" }
  | { kind: "restored"; meta: CryptoStoreMeta }
  | { kind: "unreadable"; error: Error };

const MAGIC = Buffer.from("NIOBOT-CRYPTO-1\n");

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
  #saving: Promise<void> = Promise.resolve();
  #unwatch: (() => void) | undefined;
  readonly #factory: IDBFactory;

  /** @param path the snapshot file; undefined keeps the store in memory only. */
  constructor(readonly path: string | undefined) {
    const { factory, watchWrites } = cryptoIndexedDB();
    this.#factory = factory;
    this.#unwatch = watchWrites(this.storeName, () => {
      this.#dirty = true;
    });
  }

  /** Whether the store survives a restart. */
  get persistent(): boolean {
    return this.path !== undefined;
  }

  /**
   * Takes the lock and loads the snapshot, if any, into IndexedDB.
   *
   * @throws {@link CryptoStoreLockedError} when another process holds the store.
   */
  async open(): Promise<RestoreResult> {
    if (!this.path) return { kind: "none" };
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
      if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("not a niobot crypto store");
      const file = v8.deserialize(bytes.subarray(MAGIC.length)) as SnapshotFile;
      if (file.format !== 1 || !Array.isArray(file.databases)) throw new Error("unknown crypto store format");
      await importDatabases(this.#factory, file.databases, (name) => this.storeName + name);
      this.#dirty = false;
      return { kind: "restored", meta: { userId: file.userId, deviceId: file.deviceId, clean: file.clean } };
    } catch (error) {
      await this.wipe();
      // Kept aside for forensics; the next save writes a fresh store.
      await rename(this.path, `${this.path}.unreadable-${Date.now()}`).catch(() => undefined);
      return { kind: "unreadable", error: error as Error };
    }
  }

  /** Drops everything loaded (a snapshot of another device, or an unreadable one). */
  async wipe(): Promise<void> {
    await deleteDatabases(this.#factory, await databasesWithPrefix(this.#factory, this.storeName));
    this.#dirty = true;
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
   * Writes a snapshot if anything changed since the last one. Saves are
   * serialized; a call made during a save waits for it and then saves again
   * if there were new writes, so a resolved `save()` covers every write
   * that happened before it was called.
   */
  save(): Promise<void> {
    const next = this.#saving.then(() => this.#saveNow(false));
    this.#saving = next.catch(() => undefined);
    return next;
  }

  async #saveNow(clean: boolean): Promise<void> {
    if (!this.path || !this.#meta || (!this.dirty && !clean)) return;
    this.#dirty = false;
    try {
      const names = await databasesWithPrefix(this.#factory, this.storeName);
      const databases = (await exportDatabases(this.#factory, names)).map((db) => ({ ...db, name: db.name.slice(this.storeName.length) }));
      const file: SnapshotFile = { format: 1, ...this.#meta, clean, savedAt: Date.now(), databases };
      await writeAtomically(this.path, Buffer.concat([MAGIC, v8.serialize(file)]));
    } catch (error) {
      this.#dirty = true;
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
  // Exactly the names writeAtomically makes: `<store>.<pid>.<8 hex>.tmp`.
  for (const name of names)
    if (name.startsWith(prefix) && /^\d+\.[0-9a-f]{8}\.tmp$/.test(name.slice(prefix.length))) await rm(join(dirname(path), name), { force: true });
}

/** Writes a private file so that a crash leaves either the old or the new content, never a mix. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // The rename is durable only once the directory entry is flushed.
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await dir.close();
  }
}
