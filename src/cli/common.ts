/**
 * Shared pieces of the `niobot` command-line tool: exit codes, the error type
 * commands throw, readable network errors and the package metadata.
 */
import { readFileSync } from "node:fs";
import { MatrixError, MatrixNetworkError } from "../api/errors.js";
import { DiscoveryError } from "../api/discovery.js";

/** Exit codes: 0 ok, 1 the command failed, 2 it was called wrongly. */
export const EXIT_OK = 0;
/** The command ran and failed (wrong password, unreachable server...). */
export const EXIT_FAILURE = 1;
/** Bad arguments or flags. */
export const EXIT_USAGE = 2;

/**
 * A failure to report as one clear line (no stack trace) with an exit code.
 *
 * @example
 * throw new CliError("wrong user or password");
 * throw new CliError("missing <dir>", EXIT_USAGE);
 */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    /** Process exit code: {@link EXIT_FAILURE} or {@link EXIT_USAGE}. */
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}

/** A usage error (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/** The innermost cause's message: `fetch failed` hides `connect ECONNREFUSED 127.0.0.1:1`. */
export function rootCause(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth++) {
    current = current.cause;
    if (current instanceof Error && current.message) message = current.message;
    else if (typeof current === "string") message = current;
  }
  return message;
}

/**
 * Turns an error of the API layer into a one-line {@link CliError}: what
 * happened, in words an operator can act on, never with a token in it.
 */
export function describeApiError(error: unknown, what: string, baseUrl: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof DiscoveryError) return new CliError(`${what}: ${discoveryMessage(error)}`);
  if (error instanceof MatrixNetworkError) return new CliError(`${what}: cannot reach ${baseUrl} (${rootCause(error)})`);
  if (error instanceof MatrixError) {
    if (error.errcode === "M_LIMIT_EXCEEDED") {
      const wait = error.retryAfterMs === undefined ? "" : ` (retry in ${Math.ceil(error.retryAfterMs / 1000)} s)`;
      return new CliError(`${what}: the server is rate limiting us${wait}`);
    }
    const detail = typeof error.body.error === "string" ? `: ${error.body.error}` : "";
    return new CliError(`${what}: ${error.errcode} (HTTP ${error.status})${detail}`);
  }
  return new CliError(`${what}: ${rootCause(error)}`);
}

/** A discovery error's message, plus the network error behind it (`fetch failed` alone says nothing). */
export function discoveryMessage(error: DiscoveryError): string {
  const cause = error.cause === undefined ? undefined : rootCause(error.cause);
  if (!cause || error.message.includes(cause)) return error.message;
  return error.message.includes("fetch failed") ? error.message.replace("fetch failed", cause) : `${error.message}: ${cause}`;
}

/** The parts of niobot's own package.json the CLI uses. */
export interface PackageInfo {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

let packageInfo: PackageInfo | undefined;

/**
 * niobot's package.json. Both `src/cli/` and `dist/cli/` sit two levels
 * below the package root, so one relative URL serves both.
 */
export function ownPackage(): PackageInfo {
  packageInfo ??= JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as PackageInfo;
  return packageInfo;
}

/** Writes `label  value` rows with aligned values. */
export function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n");
}
