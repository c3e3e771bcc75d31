/**
 * A throwaway PostgreSQL for tests: `initdb` in a temporary directory, a free
 * port, a socket directory of its own, torn down afterwards. Run as the
 * unprivileged `postgres` user when the tests run as root (PostgreSQL refuses
 * to run as root). `MATRIX_TEST_POSTGRES_URL` points the tests at an existing
 * server instead; tests then get a fresh schema each, so nothing collides.
 *
 * Binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/<n>/bin`,
 * installed by `.ci/run`); without them {@link postgresUnavailable} says why
 * and the tests are skipped.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { after } from "node:test";
import { PostgresStore } from "../../src/storage/postgres/store.js";

/** The directory holding initdb/pg_ctl, newest major version first, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, "bin", "initdb"))) return join(root, v, "bin");
  return undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  if (process.env.MATRIX_TEST_POSTGRES_URL) return undefined;
  if (!postgresBinDir()) return "PostgreSQL binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql, or set MATRIX_TEST_POSTGRES_URL)";
  if (process.getuid?.() === 0 && spawnSync("id", ["-u", "postgres"]).status !== 0) return "running as root but there is no `postgres` user to run the server as";
  return undefined;
}

/** A running test server. */
export interface TestPostgres {
  /** Connection URL of the superuser database. */
  url: string;
  /** A fresh schema name, for one store. */
  schema(): string;
  /** Restarts the server (same data, same port): a database outage. */
  restart(): Promise<void>;
  /** Stops the server (pg_ctl stop -m fast). */
  stopServer(): void;
  /** Starts a stopped server again. */
  startServer(): void;
  /** Stops it and deletes its files (nothing for an external server). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function uniqueSchema(): string {
  return `t_${randomBytes(6).toString("hex")}`;
}

/** Starts a throwaway cluster (or connects to `MATRIX_TEST_POSTGRES_URL`). */
export async function startTestPostgres(options: { durable?: boolean } = {}): Promise<TestPostgres> {
  const external = process.env.MATRIX_TEST_POSTGRES_URL;
  if (external) {
    const noop = (): void => undefined;
    return { url: external, schema: uniqueSchema, restart: async () => { throw new Error("cannot restart an external server"); }, stopServer: noop, startServer: noop, stop: async () => undefined };
  }
  const bin = postgresBinDir();
  if (!bin) throw new Error(postgresUnavailable());
  const dir = mkdtempSync(join(tmpdir(), "niobot-pg-"));
  const data = join(dir, "data");
  const root = process.getuid?.() === 0;
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (tool: string, args: string[]): void => {
    const [cmd, argv] = root ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
    const result = spawnSync(cmd, argv, { cwd: dir, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${tool} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  const port = await freePort();
  // No fsync unless asked (the bench): a clean restart (pg_ctl stop -m fast) still writes everything,
  // and the tests kill bots, not the server.
  const durability = options.durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${durability}`;
  const startServer = (): void => run("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", serverOptions, "-w", "-t", "60", "start"]);
  const stopServer = (): void => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
  startServer();
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    schema: uniqueSchema,
    async restart() {
      stopServer();
      startServer();
    },
    stopServer() {
      stopServer();
      running = false;
    },
    startServer() {
      startServer();
      running = true;
    },
    async stop() {
      try {
        if (running) stopServer();
      } finally {
        running = false;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * For store conformance tests: a `[name, make]` entry that makes a fresh
 * PostgresStore (a new schema each) on a throwaway cluster, started now and
 * stopped (after closing every store it made) when the test file ends; or
 * the reason it is skipped.
 */
export async function postgresStoreKind(): Promise<{ kind: [string, () => PostgresStore] } | { skip: string }> {
  const skip = postgresUnavailable();
  if (skip) return { skip };
  const pg = await startTestPostgres();
  const made: PostgresStore[] = [];
  after(async () => {
    for (const store of made) await store.close().catch(() => undefined);
    await pg.stop();
  });
  return {
    kind: ["PostgresStore", () => {
      const store = new PostgresStore(pg.url, { schema: pg.schema() });
      made.push(store);
      return store;
    }],
  };
}
