/**
 * `storeUrl` parsing: which store a URL selects, the bot's schema, and a
 * description of the server that is safe to log (no password).
 *
 * @module
 */
import { SCHEMA_NAME } from "./schema.js";

/** Whether a store URL selects the PostgreSQL store. */
export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(?:ql)?:\/\//i.test(url);
}

/** A store URL taken apart. */
export interface PostgresTarget {
  /** The URL for the driver, without niobot's own parameters. */
  url: string;
  /** The bot's schema: the `schema` parameter, the option, or `niobot`. */
  schema: string;
  /** `host:port/database (schema s)`, with no user or password. */
  description: string;
}

/**
 * Reads `postgres://user:password@host:port/database?schema=name`. The
 * `schema` parameter (or `schema` given here) picks the bot's schema, so
 * several bots share one database.
 *
 * @example
 * parsePostgresUrl("postgres://bot:pw@db/bots?schema=greeter").schema // "greeter"
 */
export function parsePostgresUrl(raw: string, schema?: string): PostgresTarget {
  if (!isPostgresUrl(raw)) throw new Error("a PostgreSQL store URL starts with postgres:// or postgresql://");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The URL is not echoed: it may hold a password.
    throw new Error("the PostgreSQL store URL is not a valid URL");
  }
  const fromUrl = url.searchParams.get("schema") ?? undefined;
  url.searchParams.delete("schema");
  const chosen = schema ?? fromUrl ?? "niobot";
  if (!SCHEMA_NAME.test(chosen)) throw new Error(`invalid store schema ${JSON.stringify(chosen)}: use lower-case letters, digits and _ (at most 63)`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || "(default database)";
  return { url: url.toString(), schema: chosen, description: `${url.hostname || "localhost"}${url.port ? `:${url.port}` : ""}/${database} (schema ${chosen})` };
}
