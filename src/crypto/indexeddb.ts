/**
 * The IndexedDB the wasm crypto machine uses in Node: `fake-indexeddb`,
 * installed as the global `indexedDB` when the process has none, with a hook
 * that tells a store when the machine wrote to its databases (so snapshots
 * are written only after real changes).
 *
 * @module
 */
import * as fake from "fake-indexeddb";
import type { IDBFactory } from "./idb-snapshot.js";

interface Installed {
  factory: IDBFactory;
  /** Calls `onWrite` whenever a read-write transaction starts on a database named `prefix...`; returns an unsubscribe. */
  watchWrites(prefix: string, onWrite: () => void): () => void;
}

let installed: Installed | undefined;
const watchers = new Map<string, () => void>();

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
      if (args[1] === "readwrite") notify(this.name);
      return original.apply(this, args);
    };
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

function notify(dbName: string): void {
  for (const [prefix, onWrite] of watchers) if (dbName.startsWith(prefix)) onWrite();
}
