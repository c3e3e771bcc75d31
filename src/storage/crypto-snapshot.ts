/**
 * The crypto store's snapshot as records: the shape of the IndexedDB databases the crypto
 * library keeps, and the interface of a back end that persists them (the PostgreSQL store does,
 * in the bot's schema). Types and one pure function only, below both the stores that keep
 * snapshots and the crypto layer that makes them.
 *
 * @module
 */

/** An IndexedDB key. */
export type IDBValidKey = number | string | Date | BufferSource | IDBValidKey[];
type BufferSource = ArrayBuffer | ArrayBufferView;

/** One index of an object store. */
export interface IndexSnapshot {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}

/** One object store: schema and every record. */
export interface ObjectStoreSnapshot {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexes: IndexSnapshot[];
  /** Records in key order; `key` is omitted on write when the store has in-line keys. */
  records: { key: IDBValidKey; value: unknown }[];
}

/** One database. */
export interface DatabaseSnapshot {
  name: string;
  version: number;
  stores: ObjectStoreSnapshot[];
}

/** First bytes of every SQLite file. */
export const SQLITE_HEADER = Buffer.from("SQLite format 3\0");

/** Who a snapshot belongs to and whether it was closed cleanly. */
export interface SnapshotMeta {
  userId: string;
  deviceId: string;
  clean: boolean;
}

/** Changed records of one object store; `value` undefined deletes; `all` replaces the store's records. */
export interface StoreDelta {
  db: string;
  store: string;
  all: boolean;
  records: { key: IDBValidKey; value: unknown }[];
}

/**
 * A canonical text form of an IndexedDB key, so one key always maps to one
 * row (serialized bytes may differ for equal keys, e.g. int vs double).
 */
export function keyId(key: IDBValidKey): string {
  if (typeof key === "string") return `s${key}`;
  if (typeof key === "number") return `n${key}`;
  if (key instanceof Date) return `d${key.getTime()}`;
  if (Array.isArray(key)) return `a${JSON.stringify(key.map(keyId))}`;
  const view = ArrayBuffer.isView(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength) : Buffer.from(key as ArrayBuffer);
  return `b${view.toString("hex")}`;
}

/** A persisted crypto snapshot, record by record. */
export interface CryptoSnapshotStore {
  /** Where it lives, for messages (never a secret: no password in it). */
  readonly description: string;
  /** The whole stored snapshot, or undefined when there is none. Throws when it cannot be read. */
  load(): Promise<{ meta: SnapshotMeta; databases: DatabaseSnapshot[] } | undefined>;
  /** Replaces everything with this snapshot in one transaction. */
  writeFull(meta: SnapshotMeta, databases: readonly DatabaseSnapshot[]): Promise<void>;
  /** Writes changed records and the owner in one transaction, durable when it resolves. */
  applyDeltas(meta: SnapshotMeta, deltas: readonly StoreDelta[]): Promise<void>;
}
