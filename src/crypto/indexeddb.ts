/**
 * The IndexedDB the wasm crypto machine uses in Node: `fake-indexeddb`,
 * installed as the global `indexedDB` when the process has none, with a hook
 * that tells a store when the machine wrote to its databases (so snapshots
 * are written only after real changes).
 *
 * @module
 */
import * as fake from "fake-indexeddb";
import type { IDBFactory, IDBValidKey } from "./idb-snapshot.js";

/**
 * One write the machine made: to one record (`key`), or to an unknown set of
 * records of a store (`key` undefined: a range delete, a clear), or to a
 * database in general (`store` undefined: a read-write transaction started).
 */
export interface IDBWrite {
  db: string;
  store?: string;
  key?: IDBValidKey;
}

interface Installed {
  factory: IDBFactory;
  /** Calls `onWrite` for every write to a database named `prefix...`; returns an unsubscribe. */
  watchWrites(prefix: string, onWrite: (write: IDBWrite) => void): () => void;
}

let installed: Installed | undefined;
const watchers = new Map<string, (write: IDBWrite) => void>();

const GLOBALS: Record<string, unknown> = {
  indexedDB: fake.indexedDB,
  IDBCursor: fake.IDBCursor,
  IDBCursorWithValue: fake.IDBCursorWithValue,
  IDBDatabase: fake.IDBDatabase,
  IDBFactory: fake.IDBFactory,
  IDBIndex: fake.IDBIndex,
  IDBKeyRange: fake.IDBKeyRange,
  IDBObjectStore: fake.IDBObjectStore,
  IDBOpenDBRequest: fake.IDBOpenDBRequest,
  IDBRequest: fake.IDBRequest,
  IDBTransaction: fake.IDBTransaction,
  IDBVersionChangeEvent: fake.IDBVersionChangeEvent,
};

/** Installs (once) and returns the process's IndexedDB for crypto stores. */
export function cryptoIndexedDB(): Installed {
  if (installed) return installed;
  const g = globalThis as Record<string, unknown>;
  if (g.indexedDB === undefined) {
    for (const [name, value] of Object.entries(GLOBALS))
      Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
  const precise = g.indexedDB === fake.indexedDB;
  if (precise) {
    const proto = (fake.IDBDatabase as unknown as { prototype: { transaction: (...args: unknown[]) => unknown; name: string } }).prototype;
    const original = proto.transaction;
    proto.transaction = function (this: { name: string }, ...args: unknown[]): unknown {
      if (args[1] === "readwrite") notify({ db: this.name });
      return original.apply(this, args);
    };
    watchRecordWrites();
  }
  installed = {
    factory: g.indexedDB as IDBFactory,
    watchWrites(prefix, onWrite) {
      // Another IndexedDB implementation cannot be watched: every save then writes.
      if (!precise) return () => undefined;
      watchers.set(prefix, onWrite);
      return () => watchers.delete(prefix);
    },
  };
  return installed;
}

/** Whether writes are observed; when not, a store must assume it is always dirty. */
export function writesObserved(): boolean {
  return (globalThis as Record<string, unknown>).indexedDB === fake.indexedDB;
}

function notify(write: IDBWrite): void {
  for (const [prefix, onWrite] of watchers) if (write.db.startsWith(prefix)) onWrite(write);
}

interface StoreLike {
  name: string;
  transaction: { db: { name: string } };
}
type Method = (...args: unknown[]) => unknown;

/**
 * Reports which records each write touches, so a save can write only those:
 * puts and adds by the key their request resolves to, deletes by key (a key
 * range counts as the whole store), clears as the whole store, and cursor
 * updates and deletes by the cursor's primary key.
 */
function watchRecordWrites(): void {
  const store = (fake.IDBObjectStore as unknown as { prototype: Record<string, Method> }).prototype;
  const cursor = (fake.IDBCursor as unknown as { prototype: Record<string, Method> }).prototype;
  const wrap = (proto: Record<string, Method>, name: string, after: (self: never, args: unknown[], result: unknown) => void): void => {
    const original = proto[name];
    if (!original) return;
    proto[name] = function (this: never, ...args: unknown[]): unknown {
      const result = original.apply(this, args);
      after(this, args, result);
      return result;
    };
  };
  const at = (s: StoreLike, key?: IDBValidKey): void => notify({ db: s.transaction.db.name, store: s.name, ...(key !== undefined ? { key } : {}) });
  for (const name of ["put", "add"])
    wrap(store, name, (self: StoreLike, _args, request) => {
      const r = request as { result: IDBValidKey; addEventListener(type: string, listener: () => void): void };
      r.addEventListener("success", () => at(self, r.result));
    });
  wrap(store, "delete", (self: StoreLike, [key]) => at(self, key instanceof fake.IDBKeyRange ? undefined : (key as IDBValidKey)));
  wrap(store, "clear", (self: StoreLike) => at(self));
  const cursorStore = (c: { source: StoreLike | { objectStore: StoreLike } }): StoreLike => ("objectStore" in c.source ? c.source.objectStore : c.source);
  for (const name of ["update", "delete"])
    wrap(cursor, name, (self: { source: StoreLike | { objectStore: StoreLike }; primaryKey: IDBValidKey }) => at(cursorStore(self), self.primaryKey));
}
