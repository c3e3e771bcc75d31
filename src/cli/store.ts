/**
 * `niobot store migrate`: moves a bot's SQLite store (crypto included) into
 * PostgreSQL, so the bot keeps its device when it starts with `storeUrl`.
 */
import { parseArgs } from "node:util";
import { migrateSqliteToPostgres, TargetNotEmptyError } from "./store-migrate.js";
import { isPostgresUrl } from "../storage/postgres/url.js";
import { StoreLockedError } from "../storage/sqlite.js";
import { CliError, table, usageError } from "./common.js";

/** Help of `niobot store`. */
export const storeHelp = `Usage: niobot store migrate --from <bot.db> --to <postgres://...> [options]

  migrate   copies an SQLite store and its crypto file (<bot.db>.crypto) into a
            PostgreSQL schema: login and device, sync position, rooms, DMs,
            pending encrypted events, ctx.once records, bot.kv data and the
            encryption keys. Stop the bot first (a running bot holds the file);
            then start it with storeUrl (STORE_URL in the examples) instead of
            storePath. The SQLite files are left as they are.

Options:
  --from <path>      the SQLite store file
  --to <url>         postgres://user:password@host:port/database[?schema=name]
                     (the URL may also come from STORE_URL, to keep the password
                     out of the shell history)
  --schema <name>    the bot's schema (default: the URL's schema parameter, else niobot)
  --crypto <path>    the crypto file (default <from>.crypto)
  --json             print JSON
  -h, --help         show this help`;

/** Runs `niobot store`. */
export async function store(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      schema: { type: "string" },
      crypto: { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (positionals[0] !== "migrate" || positionals.length > 1) throw usageError(positionals[0] ? `unknown store command "${positionals.join(" ")}"` : "which store command? (migrate)");
  const from = values.from;
  const to = values.to ?? process.env.STORE_URL;
  if (!from) throw usageError("--from <bot.db> is required");
  if (!to) throw usageError("--to <postgres://...> (or STORE_URL) is required");
  if (!isPostgresUrl(to)) throw usageError("--to must be a postgres:// or postgresql:// URL");
  let report;
  try {
    report = await migrateSqliteToPostgres({ from, to, schema: values.schema, cryptoFrom: values.crypto });
  } catch (error) {
    if (error instanceof StoreLockedError) throw new CliError(`${error.message}: stop the bot first`);
    if (error instanceof TargetNotEmptyError) throw new CliError(error.message);
    // Driver errors can quote the connection string: only the message's first line, and never the URL.
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!.replaceAll(to, "<the store URL>");
    throw new CliError(`migration failed: ${message}`);
  }
  if (values.json) {
    console.log(JSON.stringify(report));
    return 0;
  }
  const r = report.rows;
  console.log(
    table([
      ["copied to", report.target],
      ["device", report.deviceId ?? "(no login stored)"],
      ["rooms", `${r.rooms} (${r.roomState} state events, ${r.accountData} account data items)`],
      ["handled event ids", String(r.handled)],
      ["pending encrypted events", String(r.pendingEvents)],
      ["ctx.once records", String(r.effects)],
      ["bot.kv values", String(r.kv)],
      ["crypto records", report.cryptoRecords === undefined ? "none (no crypto file)" : String(report.cryptoRecords)],
    ]),
  );
  console.log("Start the bot with storeUrl (STORE_URL) instead of storePath; it keeps its device.");
  return 0;
}
