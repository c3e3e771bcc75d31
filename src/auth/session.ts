/**
 * `SessionAuth`: the token source of a running bot. It hands out the current
 * access token, refreshes it ahead of expiry and after a 401
 * `M_UNKNOWN_TOKEN`, logs in again to the same device after a soft logout,
 * and gives up with one clear {@link SessionLostError} otherwise.
 *
 * Ordering, and why a crash at any point is safe:
 * 1. the refresh request is sent with the stored refresh token R1;
 * 2. the response (A2, R2) is written to the store (one transaction) and to
 *    the env file the CLI made, if any, by `persist`;
 * 3. only then is A2 handed to requests.
 * The spec keeps R1 valid "until the new access token or refresh token is
 * used" (client-server API, "Refreshing access tokens"; Synapse does the
 * same). A crash before step 2 leaves R1 in the store, still valid because A2
 * was never used, so the restarted bot simply refreshes again. A crash after
 * step 2 leaves (A2, R2) in the store. Either way the device is kept.
 */
import { isTransientError, MatrixError, type RequestInfo } from "../api/errors.js";
import type { HttpAuth } from "../api/http.js";
import type { Logger } from "../logging/logger.js";
import { registerSecret } from "../logging/redact.js";
import { backoffDelay, sleep } from "../util/async.js";
import { SessionLostError, type SessionLostReason, type TokenSet } from "./tokens.js";

/** Options of a {@link SessionAuth}. */
export interface SessionAuthOptions {
  /** The pair to start with. */
  tokens: TokenSet;
  /** Exchanges a refresh token for a new pair (`POST /refresh`, or an OAuth token endpoint). */
  refresh?: (refreshToken: string, signal: AbortSignal) => Promise<TokenSet>;
  /** Logs in again to the same device, for a soft logout; absent when there is no password. */
  relogin?: (signal: AbortSignal) => Promise<TokenSet>;
  /** Writes a new pair durably; it is used only after this resolved. */
  persist: (tokens: TokenSet) => Promise<void>;
  /** The device, for log lines and the final error. */
  deviceId?: string;
  log: Logger;
  /** What a failed refresh means without a re-login (default "no-password"). */
  lostWithoutRelogin?: SessionLostReason;
  /** Clock (tests). */
  now?: () => number;
  /** Refresh at most this long before expiry (default 60 s; less for short-lived tokens, see {@link refreshMarginOf}). */
  maxMarginMs?: number;
  /** Attempts of one refresh against network errors and 5xx (default 4). */
  refreshAttempts?: number;
  /** First wait between refresh attempts, doubled each time (default 1 s). */
  initialBackoffMs?: number;
  /** Re-logins closer together than this count as a streak and are backed off (default 60 s). */
  reloginWindowMs?: number;
  /** Longest wait before a re-login in a streak (default 5 minutes). */
  maxReloginBackoffMs?: number;
}

/**
 * How long before expiry to refresh: a fifth of the token's lifetime, at most
 * `maxMs`, so a 5-minute token is refreshed a minute early and a 20 s one 4 s early.
 */
export function refreshMarginOf(lifetimeMs: number | undefined, maxMs: number): number {
  if (lifetimeMs === undefined || lifetimeMs <= 0) return maxMs;
  return Math.min(maxMs, Math.floor(lifetimeMs / 5));
}

interface Renewal {
  promise: Promise<void>;
  /** Started by a 401 (must end with a new token) rather than ahead of expiry. */
  reactive: boolean;
}

const AUTH_REQUEST: RequestInfo = { method: "POST", path: "/_matrix/client/v3/refresh" };

/** The token source of a running session; see the module comment for the ordering. */
export class SessionAuth implements HttpAuth {
  #tokens: TokenSet;
  #lifetimeMs: number | undefined;
  #renewal: Renewal | undefined;
  #lost: SessionLostError | undefined;
  /** Set after a refresh was refused: ahead-of-expiry refreshes stop until a re-login. */
  #refreshRefused = false;
  #lastReloginAt = -Infinity;
  #reloginStreak = 0;
  #refreshes = 0;
  #relogins = 0;
  readonly #o: SessionAuthOptions;
  readonly #now: () => number;
  readonly #closed = new AbortController();

  constructor(options: SessionAuthOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.tokens;
    registerTokens(options.tokens);
    this.#setTokens(options.tokens);
  }

  /** The current pair (secrets: never log it). */
  get tokens(): Readonly<TokenSet> {
    return this.#tokens;
  }

  /** How many refreshes and re-logins this session made. */
  get counts(): { refreshes: number; relogins: number } {
    return { refreshes: this.#refreshes, relogins: this.#relogins };
  }

  /** Takes a pair obtained elsewhere (already persisted), e.g. after a new device login. */
  adopt(tokens: TokenSet): void {
    this.#setTokens(tokens);
    this.#refreshRefused = false;
    this.#lost = undefined;
  }

  /** Stops any refresh or re-login in progress (the bot is stopping). */
  close(): void {
    this.#closed.abort(new DOMException("the session was closed", "AbortError"));
  }

  accessToken(signal?: AbortSignal): Promise<string | undefined> | string | undefined {
    if (this.#lost) return Promise.reject(this.#lost);
    if (!this.#renewal && this.#due()) this.#start(undefined);
    // The common case, once per request: nothing to wait for, no promise.
    return this.#renewal ? this.#renewed(this.#renewal, signal) : this.#tokens.accessToken;
  }

  async #renewed(running: Renewal, signal: AbortSignal | undefined): Promise<string | undefined> {
    // Ahead of expiry the old token still works, so a failed refresh only delays.
    await waitFor(running.promise.catch(() => undefined), signal);
    if (this.#lost) throw this.#lost;
    return this.#tokens.accessToken;
  }

  async rejected(used: string | undefined, error: MatrixError, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.#lost) throw this.#lost;
      // Someone else renewed the token since this request was sent: just repeat it.
      if (used !== this.#tokens.accessToken) return;
      const running = this.#renewal;
      if (running && !running.reactive) {
        await waitFor(running.promise.catch(() => undefined), signal);
        continue;
      }
      await waitFor((running ?? this.#start(error)).promise, signal);
      return;
    }
  }

  #due(): boolean {
    const { expiresAt, refreshToken } = this.#tokens;
    if (expiresAt === undefined || refreshToken === undefined || !this.#o.refresh || this.#refreshRefused) return false;
    return this.#now() >= expiresAt - refreshMarginOf(this.#lifetimeMs, this.#o.maxMarginMs ?? 60_000);
  }

  #start(rejection: MatrixError | undefined): Renewal {
    const renewal: Renewal = {
      reactive: rejection !== undefined,
      promise: this.#renew(rejection).finally(() => {
        if (this.#renewal === renewal) this.#renewal = undefined;
      }),
    };
    // A proactive renewal nobody awaits must not become an unhandled rejection.
    renewal.promise.catch(() => undefined);
    this.#renewal = renewal;
    return renewal;
  }

  async #renew(rejection: MatrixError | undefined): Promise<void> {
    const signal = this.#closed.signal;
    let refreshError: unknown;
    const { refreshToken } = this.#tokens;
    if (refreshToken !== undefined && this.#o.refresh && !this.#refreshRefused) {
      try {
        const next = await this.#refreshWithRetries(refreshToken, signal);
        await this.#use(next);
        this.#refreshes++;
        this.#o.log.info({ deviceId: this.#o.deviceId, expiresInMs: next.expiresAt === undefined ? undefined : next.expiresAt - this.#now() }, "access token refreshed");
        return;
      } catch (error) {
        if (!(error instanceof MatrixError) || isTransientError(error)) throw error; // network, 5xx, persist failed: retry later
        refreshError = error;
        this.#refreshRefused = true;
        this.#o.log.warn({ deviceId: this.#o.deviceId, errcode: error.errcode, status: error.status }, "the refresh token was refused");
      }
    }
    if (!rejection) return; // ahead of expiry: the current token works until the server says otherwise
    const soft = rejection.body.soft_logout === true || (refreshError instanceof MatrixError && refreshError.body.soft_logout === true);
    const request = { method: rejection.method, path: rejection.path };
    // Without soft_logout the server destroyed the session: its keys must not be reused.
    const refused = refreshError !== undefined || this.#refreshRefused;
    if (!soft) throw this.#fail(refused && this.#o.lostWithoutRelogin ? this.#o.lostWithoutRelogin : "hard-logout", request, refreshError ?? rejection);
    if (!this.#o.relogin) throw this.#fail(refused ? (this.#o.lostWithoutRelogin ?? "no-password") : "no-password", request, refreshError ?? rejection);
    await this.#relogin(request, signal);
  }

  async #refreshWithRetries(refreshToken: string, signal: AbortSignal): Promise<TokenSet> {
    const attempts = this.#o.refreshAttempts ?? 4;
    for (let attempt = 0; ; attempt++) {
      try {
        // Repeating a refresh is safe: the old refresh token stays valid until the new pair is used.
        return await this.#o.refresh!(refreshToken, signal);
      } catch (error) {
        if (signal.aborted || !isTransientError(error) || attempt + 1 >= attempts) throw error;
        const wait = backoffDelay(attempt, this.#o.initialBackoffMs ?? 1_000, 30_000);
        this.#o.log.warn({ error: (error as Error).message, retryInMs: wait }, "refreshing the access token failed; retrying");
        await sleep(wait, signal);
      }
    }
  }

  async #relogin(request: RequestInfo, signal: AbortSignal): Promise<void> {
    // Never a loop of failing logins: logins in quick succession wait longer each time.
    const now = this.#now();
    this.#reloginStreak = now - this.#lastReloginAt < (this.#o.reloginWindowMs ?? 60_000) ? this.#reloginStreak + 1 : 0;
    this.#lastReloginAt = now;
    if (this.#reloginStreak > 0) {
      const wait = backoffDelay(this.#reloginStreak - 1, 2_000, this.#o.maxReloginBackoffMs ?? 300_000);
      this.#o.log.warn({ deviceId: this.#o.deviceId, waitMs: wait, streak: this.#reloginStreak }, "logged in again only recently; waiting before the next login");
      await sleep(wait, signal);
    }
    this.#o.log.warn({ deviceId: this.#o.deviceId }, "soft logout: logging in again to the same device with the password");
    let next: TokenSet;
    try {
      next = await this.#o.relogin!(signal);
    } catch (error) {
      if (error instanceof MatrixError && !error.isTransient && error.status !== 401) throw this.#fail("password-refused", request, error);
      throw error;
    }
    await this.#use(next);
    this.#refreshRefused = false;
    this.#relogins++;
    this.#o.log.info({ deviceId: this.#o.deviceId }, "logged in again to the same device");
  }

  /** Persist, then use: the order the module comment explains. */
  async #use(next: TokenSet): Promise<void> {
    await this.#o.persist(next);
    this.#setTokens(next);
  }

  #setTokens(next: TokenSet): void {
    registerTokens(next);
    this.#tokens = next;
    this.#lifetimeMs = next.expiresAt === undefined ? undefined : Math.max(0, next.expiresAt - this.#now());
  }

  #fail(reason: SessionLostReason, request: RequestInfo, cause: unknown): SessionLostError {
    this.#lost = new SessionLostError(reason, request.path ? request : AUTH_REQUEST, this.#o.deviceId, cause);
    this.#o.log.error({ deviceId: this.#o.deviceId, reason }, this.#lost.message);
    return this.#lost;
  }
}

/** Waits for `promise`, or rejects when `signal` aborts (the promise itself goes on for others). */
function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error as Error);
      },
    );
  });
}

/** Every token the session holds is a known secret: no log line or error message shows it, whatever its format. */
function registerTokens(tokens: TokenSet): void {
  registerSecret(tokens.accessToken);
  registerSecret(tokens.refreshToken);
}
