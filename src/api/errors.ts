/**
 * Error classes of the client-server API layer.
 *
 * Every error names the request that failed (method and path) but never its
 * secrets: access tokens are sent in a header, never in the URL, and request
 * bodies (which may hold passwords) are never copied into an error.
 */

/** The request an error belongs to, with secrets already removed. */
export interface RequestInfo {
  /** HTTP method, e.g. `"PUT"`. */
  readonly method: string;
  /** Path and query of the request, e.g. `/_matrix/client/v3/sync?timeout=30000`. */
  readonly path: string;
}

/** Query parameters whose values must never appear in an error or a log line. */
const SECRET_QUERY_KEYS = /([?&](?:access_token|password|token|login_token|refresh_token|device_code|sid|client_secret)=)[^&#]*/gi;

/**
 * Removes secrets from a URL path or any text derived from one.
 *
 * @example
 * redactPath("/x?access_token=syt_abc&since=s1") // "/x?access_token=<redacted>&since=s1"
 */
export function redactPath(path: string): string {
  return path
    .replace(SECRET_QUERY_KEYS, "$1<redacted>")
    .replace(/\bsy[tr]_[A-Za-z0-9_]+/g, "<redacted>")
    .replace(/\bma[tr]_[A-Za-z0-9_]+/g, "<redacted>")
    .replace(/\bmct_[A-Za-z0-9_]+/g, "<redacted>");
}

/**
 * An error response from the homeserver: a non-2xx status, usually with a
 * Matrix `errcode`.
 *
 * @example
 * try { await api.rooms.join("#nope:example.org"); }
 * catch (e) { if (e instanceof MatrixError && e.errcode === "M_FORBIDDEN") ... }
 */
export class MatrixError extends Error {
  override readonly name = "MatrixError";
  /** The Matrix error code, e.g. `M_FORBIDDEN`; `M_UNKNOWN` when the body had none. */
  readonly errcode: string;
  /** HTTP status code of the response. */
  readonly status: number;
  /** HTTP method of the failed request. */
  readonly method: string;
  /** Path (and redacted query) of the failed request. */
  readonly path: string;
  /** How long the server asked us to wait, for `M_LIMIT_EXCEEDED`. */
  readonly retryAfterMs: number | undefined;
  /** The decoded JSON body of the response (or `{}` when it was not JSON). */
  readonly body: Readonly<Record<string, unknown>>;

  constructor(
    request: RequestInfo,
    status: number,
    body: Record<string, unknown>,
    retryAfterMs?: number,
  ) {
    const errcode = typeof body.errcode === "string" ? body.errcode : "M_UNKNOWN";
    const error = typeof body.error === "string" ? body.error : `HTTP ${status}`;
    const path = redactPath(request.path);
    super(`${request.method} ${path}: ${errcode} (${status}): ${redactPath(error)}`);
    this.errcode = errcode;
    this.status = status;
    this.method = request.method;
    this.path = path;
    this.retryAfterMs = retryAfterMs;
    this.body = body;
  }

  /** True for errors worth retrying later: rate limits and server errors. */
  get isTransient(): boolean {
    return this.status === 429 || this.errcode === "M_LIMIT_EXCEEDED" || this.status >= 500;
  }
}

/** The homeserver could not be reached, or the connection broke mid-request. */
export class MatrixNetworkError extends Error {
  override readonly name = "MatrixNetworkError";
  /** HTTP method of the failed request. */
  readonly method: string;
  /** Path (and redacted query) of the failed request. */
  readonly path: string;

  constructor(request: RequestInfo, cause: unknown) {
    const path = redactPath(request.path);
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${request.method} ${path}: network error: ${redactPath(reason)}`, { cause });
    this.method = request.method;
    this.path = path;
  }
}

/** Tells whether an error means "try again later" rather than "this will never work". */
export function isTransientError(error: unknown): boolean {
  if (error instanceof MatrixNetworkError) return true;
  if (error instanceof MatrixError) return error.isTransient;
  return false;
}
