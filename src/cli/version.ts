/**
 * `niobot version`: versions and optional features, for bug reports (like
 * NioBot's `niocli version`).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, release } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ownPackage, rootCause, table, usageError } from "./common.js";

/** Help of `niobot version`. */
export const versionHelp = `Usage: niobot version [options]

Prints the niobot version, the Node.js version, the platform, and whether
end-to-end encryption (@matrix-org/matrix-sdk-crypto-wasm) and the SQLite
store (better-sqlite3) can be loaded.

Options:
  --json      print JSON
  -h, --help  show this help`;

/** Whether an optional module loads, and its version. */
export interface FeatureStatus {
  available: boolean;
  version?: string;
  /** Why it is not available. */
  error?: string;
}

/** The installed version of a package, found from its entry point (its `exports` may hide package.json). */
function installedVersion(name: string): string | undefined {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version;
      } catch {
        // no package.json at this level: go up
      }
    }
  } catch {
    // not resolvable as CommonJS: the version stays unknown
  }
  return undefined;
}

// Names in variables: these modules are optional at run time, and the check
// must not fail to compile or load when one is missing.
const CRYPTO_MODULE = "@matrix-org/matrix-sdk-crypto-wasm";
const SQLITE_MODULE = "better-sqlite3";

/** Loads the crypto module and its WebAssembly: importing alone does not compile the wasm. */
export async function cryptoStatus(): Promise<FeatureStatus> {
  try {
    const mod = (await import(CRYPTO_MODULE)) as { initAsync?: () => Promise<void> };
    await mod.initAsync?.();
    return { available: true, version: installedVersion(CRYPTO_MODULE) };
  } catch (error) {
    return { available: false, error: rootCause(error) };
  }
}

/** Opens an in-memory database: that proves the native binding matches this Node. */
export async function sqliteStatus(): Promise<FeatureStatus> {
  try {
    const mod = (await import(SQLITE_MODULE)) as { default: new (path: string) => { close(): void } };
    new mod.default(":memory:").close();
    return { available: true, version: installedVersion(SQLITE_MODULE) };
  } catch (error) {
    return { available: false, error: rootCause(error) };
  }
}

function describe(status: FeatureStatus, module: string): string {
  if (status.available) return `available (${module}${status.version ? ` ${status.version}` : ""})`;
  return `not available: ${module} does not load (${status.error ?? "unknown error"})`;
}

/** Runs `niobot version`. */
export async function version(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: "boolean", default: false } }, allowPositionals: true });
  if (positionals.length > 0) throw usageError(`version takes no arguments (got "${positionals[0]}")`);
  const [crypto, sqlite] = await Promise.all([cryptoStatus(), sqliteStatus()]);
  const info = {
    niobot: ownPackage().version,
    node: process.version,
    platform: `${platform()} ${arch()} (${release()})`,
  };
  if (values.json) {
    console.log(JSON.stringify({ ...info, e2ee: crypto, sqlite }));
    return 0;
  }
  console.log(
    table([
      ["niobot", info.niobot],
      ["node", info.node],
      ["platform", info.platform],
      ["e2ee crypto", describe(crypto, CRYPTO_MODULE)],
      ["sqlite store", describe(sqlite, SQLITE_MODULE)],
    ]),
  );
  return 0;
}
