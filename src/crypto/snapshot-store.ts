/**
 * Where a crypto store persists when it is not a file: a back end that keeps
 * the IndexedDB snapshot records itself (the PostgreSQL store does, in the
 * bot's schema). `CryptoStoreFile` uses it in place of its SQLite file, with
 * the same incremental saves.
 *
 * @module
 */
import type { DatabaseSnapshot } from "./idb-snapshot.js";
import type { SnapshotMeta, StoreDelta } from "./snapshot-db.js";

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
