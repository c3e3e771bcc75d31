/**
 * The PostgreSQL store's schema and its versioned migrations. Each bot owns
 * one schema (default `niobot`), so several bots share a database; the
 * migrations run at every start, under a transaction-scoped advisory lock,
 * so replicas that start together apply each one exactly once. A schema
 * written by a newer niobot is refused rather than misread.
 *
 * @module
 */
import type { Sql } from "postgres";

/** A schema name the store accepts: plain lower-case identifiers, so it never needs quoting rules. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The migrations, in order; entry `i` brings the schema to version `i + 1`.
 * Append only: a released entry is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the bot store (as SQLite's), the crypto snapshot records, and the lease that fences writers.
  `
CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE handled (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE);
CREATE TABLE rooms (room_id TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE room_state (room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (room_id, type, state_key));
CREATE TABLE account_data (room_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (room_id, type));
CREATE TABLE bot_kv (namespace TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, expires_at BIGINT,
  PRIMARY KEY (namespace, key));
CREATE INDEX bot_kv_expiry ON bot_kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE pending_events (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
  sender TEXT NOT NULL, session_id TEXT NOT NULL, since BIGINT NOT NULL, json TEXT NOT NULL);
CREATE TABLE effects (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL,
  UNIQUE (event_id, key));
CREATE TABLE crypto_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE crypto_dbs (name TEXT PRIMARY KEY, version INTEGER NOT NULL, stores BYTEA NOT NULL);
CREATE TABLE crypto_records (db TEXT NOT NULL, store TEXT NOT NULL, id BYTEA NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL,
  PRIMARY KEY (db, store, id));
CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, fence BIGINT NOT NULL DEFAULT 0,
  expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity', acquired_at TIMESTAMPTZ);
INSERT INTO lease (id) VALUES (1);
-- Every write runs this first, in its own statement or transaction. FOR SHARE makes a takeover
-- (which updates the row) wait for writes in flight, and every write after it see the new fence.
CREATE FUNCTION fence_check(f BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF f IS NULL THEN RETURN TRUE; END IF;
  PERFORM 1 FROM lease WHERE id = 1 AND fence = f FOR SHARE;
  IF NOT FOUND THEN RAISE EXCEPTION 'niobot: stale fencing number %: another replica holds the lease', f USING ERRCODE = 'NB001'; END IF;
  RETURN TRUE;
END $$;
`,
];

/** The schema was written by a newer niobot than this one. */
export class SchemaTooNewError extends Error {
  override readonly name = "SchemaTooNewError";
  constructor(readonly schema: string, readonly found: number, readonly known: number) {
    super(`the store schema "${schema}" is at version ${found}, newer than this niobot knows (${known}); upgrade niobot`);
  }
}

/**
 * Creates the schema if needed and applies the missing migrations, in one
 * transaction; returns the version before and after.
 */
export async function migrate(sql: Sql, schema: string): Promise<{ from: number; to: number }> {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${`niobot-migrate:${schema}`}))`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS "${schema}".schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const [row] = await tx.unsafe<{ v: number | null }[]>(`SELECT max(version) AS v FROM "${schema}".schema_version`);
    const from = row?.v ?? 0;
    if (from > MIGRATIONS.length) throw new SchemaTooNewError(schema, from, MIGRATIONS.length);
    await tx.unsafe(`SET LOCAL search_path TO "${schema}"`);
    for (let version = from + 1; version <= MIGRATIONS.length; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!);
      await tx.unsafe(`INSERT INTO "${schema}".schema_version (version) VALUES (${version})`);
    }
    return { from, to: MIGRATIONS.length };
  });
}
