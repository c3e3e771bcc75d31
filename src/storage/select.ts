/**
 * Which store a bot's options select: a PostgreSQL URL (`storeUrl`), an
 * SQLite file (`storePath`), or memory.
 *
 * @module
 */
import { MemoryStore } from "./memory.js";
import { PostgresStore } from "./postgres/store.js";
import { isPostgresUrl } from "./postgres/url.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

/** The store options of a bot. */
export interface StoreSelection {
  storeUrl?: string;
  storeSchema?: string;
  storePath?: string;
  /** Replicas share the store under a lease instead of locking it (see `src/replicas/`). */
  replicas?: unknown;
}

/**
 * The store the options ask for.
 *
 * @example
 * storeFromOptions({ storeUrl: "postgres://bot@db/bots?schema=greeter" }) // a PostgresStore in schema greeter
 */
export function storeFromOptions(o: StoreSelection): Store {
  if (o.storeUrl !== undefined && o.storeUrl !== "") {
    if (!isPostgresUrl(o.storeUrl)) throw new Error("storeUrl must be a postgres:// or postgresql:// URL (for an SQLite file, use storePath)");
    return new PostgresStore(o.storeUrl, { schema: o.storeSchema, shared: Boolean(o.replicas) });
  }
  if (o.replicas) throw new Error("replicas need the PostgreSQL store: set storeUrl");
  return o.storePath ? new SqliteStore(o.storePath) : new MemoryStore();
}
