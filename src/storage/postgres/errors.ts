/**
 * Errors of the PostgreSQL store, and which driver errors mean "the server is
 * unreachable right now" (retried) rather than "this query is wrong".
 *
 * @module
 */

/** A write was refused: another replica took the lease since this one got its fencing number. */
export class StoreFencedError extends Error {
  override readonly name = "StoreFencedError";
  /** The SQLSTATE `fence_check` raises. */
  readonly errcode = "NB001";
  constructor(readonly fence: number | null) {
    super(`write refused: fencing number ${fence} is stale (another replica holds the lease)`);
  }
}

/** The database stayed unreachable for longer than the store waits (`outageWaitMs`). */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  readonly errcode = "STORE_UNAVAILABLE";
  constructor(readonly where: string, override readonly cause: unknown) {
    super(`the PostgreSQL store ${where} is unreachable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** Driver codes (postgres.js and Node's sockets) of a lost or refused connection. */
const TRANSIENT_CODES = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT",
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND",
]);

/**
 * Whether an error means the server went away or is not ready (a restart, a
 * network cut, a failover) or a transaction lost a race that a retry wins:
 * SQLSTATE classes 08 (connection), 57P01-57P03 (shutdown, starting up),
 * 40001/40P01 (serialization failure, deadlock).
 */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return false;
  return TRANSIENT_CODES.has(code) || code.startsWith("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].includes(code);
}
