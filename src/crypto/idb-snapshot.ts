/**
 * Snapshots of IndexedDB databases, so the wasm crypto machine's store (which
 * only knows IndexedDB) survives a restart in Node: `fake-indexeddb` holds the
 * live databases in memory, and these helpers copy them to and from a plain
 * structured-clone value that `node:v8` can serialize to a file.
 *
 * Only the public IndexedDB API is used, so the snapshot does not depend on
 * fake-indexeddb's internals, and a restore recreates schema (object stores,
 * key paths, indexes) and records exactly.
 *
 * @module
 */
import type { DatabaseSnapshot, IDBValidKey, IndexSnapshot, ObjectStoreSnapshot } from "../storage/crypto-snapshot.js";

export type { DatabaseSnapshot, IDBValidKey, IndexSnapshot, ObjectStoreSnapshot };

/* The project compiles without the DOM library, so the small part of the
 * IndexedDB API used here is declared structurally. */

/** A key IndexedDB accepts. */

/** @internal */
export interface IDBRequest<T = unknown> {
  readonly result: T;
  readonly error: { message: string } | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
/** @internal */
export interface IDBOpenDBRequest extends IDBRequest<IDBDatabase> {
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
/** @internal */
export interface IDBIndex {
  readonly keyPath: string | string[];
  readonly unique: boolean;
  readonly multiEntry: boolean;
}
/** @internal */
export interface IDBObjectStore {
  readonly keyPath: string | string[] | null;
  readonly autoIncrement: boolean;
  readonly indexNames: Iterable<string>;
  index(name: string): IDBIndex;
  getAll(): IDBRequest<unknown[]>;
  get(key: IDBValidKey): IDBRequest<unknown>;
  delete(key: IDBValidKey): IDBRequest<undefined>;
  clear(): IDBRequest<undefined>;
  getAllKeys(): IDBRequest<IDBValidKey[]>;
  put(value: unknown, key?: IDBValidKey): IDBRequest<IDBValidKey>;
  createIndex(name: string, keyPath: string | string[], options: { unique: boolean; multiEntry: boolean }): IDBIndex;
}
/** @internal */
export interface IDBTransaction {
  readonly error: { message: string } | null;
  objectStore(name: string): IDBObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
/** @internal */
export interface IDBDatabase {
  readonly version: number;
  readonly objectStoreNames: Iterable<string>;
  transaction(stores: string[], mode: "readonly" | "readwrite"): IDBTransaction;
  createObjectStore(name: string, options: { keyPath: string | string[] | null; autoIncrement: boolean }): IDBObjectStore;
  close(): void;
}
/** The part of `IDBFactory` the snapshots use. */
export interface IDBFactory {
  open(name: string, version?: number): IDBOpenDBRequest;
  deleteDatabase(name: string): IDBOpenDBRequest;
  databases(): Promise<{ name?: string; version?: number }[]>;
}


function toError(error: { message: string } | null, fallback: string): Error {
  return error instanceof Error ? error : new Error(error ? `${fallback}: ${error.message}` : fallback);
}

function settle<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(toError(request.error, "IndexedDB request failed"));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(toError(tx.error, "IndexedDB transaction failed"));
    tx.onabort = () => reject(toError(tx.error, "IndexedDB transaction aborted"));
  });
}

function openExisting(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(toError(request.error, `cannot open ${name}`));
    request.onblocked = () => reject(new Error(`opening ${name} was blocked`));
  });
}

/**
 * Copies whole databases (schema and records) into a structured-clone value.
 * Each database is read in one read-only transaction, so a snapshot of a
 * database is consistent even while the crypto machine keeps writing.
 */
export async function exportDatabases(factory: IDBFactory, names: readonly string[]): Promise<DatabaseSnapshot[]> {
  const out: DatabaseSnapshot[] = [];
  for (const name of names) {
    const db = await openExisting(factory, name);
    try {
      const storeNames = [...db.objectStoreNames];
      const stores: ObjectStoreSnapshot[] = [];
      if (storeNames.length > 0) {
        const tx = db.transaction(storeNames, "readonly");
        const finished = done(tx);
        const reads = storeNames.map(async (storeName): Promise<ObjectStoreSnapshot> => {
          const store = tx.objectStore(storeName);
          const [keys, values] = await Promise.all([settle(store.getAllKeys()), settle(store.getAll())]);
          return {
            name: storeName,
            keyPath: store.keyPath,
            autoIncrement: store.autoIncrement,
            indexes: [...store.indexNames].map((indexName) => {
              const index = store.index(indexName);
              return { name: indexName, keyPath: index.keyPath, unique: index.unique, multiEntry: index.multiEntry };
            }),
            records: keys.map((key, i) => ({ key, value: values[i] })),
          };
        });
        stores.push(...(await Promise.all(reads)));
        await finished;
      }
      out.push({ name, version: db.version, stores });
    } finally {
      db.close();
    }
  }
  return out;
}

/** The schema of databases (object stores and indexes, no records): cheap, to tell whether one changed. */
export async function readSchemas(factory: IDBFactory, names: readonly string[]): Promise<DatabaseSnapshot[]> {
  const out: DatabaseSnapshot[] = [];
  for (const name of names) {
    const db = await openExisting(factory, name);
    try {
      const storeNames = [...db.objectStoreNames];
      const stores: ObjectStoreSnapshot[] = [];
      if (storeNames.length > 0) {
        const tx = db.transaction(storeNames, "readonly");
        for (const storeName of storeNames) {
          const store = tx.objectStore(storeName);
          const indexes = [...store.indexNames].map((indexName) => {
            const index = store.index(indexName);
            return { name: indexName, keyPath: index.keyPath, unique: index.unique, multiEntry: index.multiEntry };
          });
          stores.push({ name: storeName, keyPath: store.keyPath, autoIncrement: store.autoIncrement, indexes, records: [] });
        }
        await done(tx);
      }
      out.push({ name, version: db.version, stores });
    } finally {
      db.close();
    }
  }
  return out;
}

/**
 * Reads chosen records of one database in one read-only transaction: per
 * store, the listed keys (a missing record reads as `undefined`: it was
 * deleted) or, for `"all"`, every record.
 */
export async function readRecords(
  factory: IDBFactory,
  name: string,
  wanted: ReadonlyMap<string, readonly IDBValidKey[] | "all">,
): Promise<Map<string, { all: boolean; records: { key: IDBValidKey; value: unknown }[] }>> {
  const out = new Map<string, { all: boolean; records: { key: IDBValidKey; value: unknown }[] }>();
  const db = await openExisting(factory, name);
  try {
    const existing = new Set(db.objectStoreNames);
    const storeNames = [...wanted.keys()].filter((s) => existing.has(s));
    if (storeNames.length === 0) return out;
    const tx = db.transaction(storeNames, "readonly");
    const finished = done(tx);
    const reads = storeNames.map(async (storeName) => {
      const store = tx.objectStore(storeName);
      const keys = wanted.get(storeName);
      if (keys === "all") {
        const [all, values] = await Promise.all([settle(store.getAllKeys()), settle(store.getAll())]);
        out.set(storeName, { all: true, records: all.map((key, i) => ({ key, value: values[i] })) });
      } else {
        const values = await Promise.all((keys ?? []).map((key) => settle(store.get(key))));
        out.set(storeName, { all: false, records: (keys ?? []).map((key, i) => ({ key, value: values[i] })) });
      }
    });
    await Promise.all(reads);
    await finished;
  } finally {
    db.close();
  }
  return out;
}

/**
 * Recreates databases from a snapshot under new names (`rename`), replacing
 * any database of that name. Resolves once every record is written.
 */
export async function importDatabases(
  factory: IDBFactory,
  snapshots: readonly DatabaseSnapshot[],
  rename: (name: string) => string = (name) => name,
): Promise<void> {
  for (const snapshot of snapshots) {
    const name = rename(snapshot.name);
    await settle(factory.deleteDatabase(name));
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open(name, snapshot.version);
      request.onupgradeneeded = () => {
        const upgrade = request.result;
        for (const s of snapshot.stores) {
          const store = upgrade.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
          for (const index of s.indexes) store.createIndex(index.name, index.keyPath, { unique: index.unique, multiEntry: index.multiEntry });
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(toError(request.error, `cannot create ${name}`));
    });
    try {
      if (snapshot.stores.length === 0) continue;
      const tx = db.transaction(snapshot.stores.map((s) => s.name), "readwrite");
      const finished = done(tx);
      for (const s of snapshot.stores) {
        const store = tx.objectStore(s.name);
        for (const record of s.records) {
          if (s.keyPath === null) store.put(record.value, record.key);
          else store.put(record.value);
        }
      }
      await finished;
    } finally {
      db.close();
    }
  }
}

/** Deletes databases (used when a crypto machine closes, so memory follows what is open). */
export async function deleteDatabases(factory: IDBFactory, names: readonly string[]): Promise<void> {
  for (const name of names)
    await new Promise<void>((resolve, reject) => {
      const request = factory.deleteDatabase(name);
      request.onsuccess = () => resolve();
      request.onerror = () => reject(toError(request.error, `cannot delete ${name}`));
      // A connection still open somewhere: the deletion completes when it closes; don't wait for that.
      request.onblocked = () => resolve();
    });
}

/** Names of the databases that start with `prefix`. */
export async function databasesWithPrefix(factory: IDBFactory, prefix: string): Promise<string[]> {
  const all = await factory.databases();
  return all.map((d) => d.name).filter((n): n is string => typeof n === "string" && n.startsWith(prefix));
}
