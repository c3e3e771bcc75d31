/**
 * The transport under every client-server API call: JSON encoding, auth,
 * rate-limit handling, retries and cancellation. It knows nothing about
 * individual endpoints; `endpoints.ts` describes those.
 */
import { MatrixError, MatrixNetworkError, type RequestInfo } from "./errors.js";
import { backoffDelay, isAbortError, sleep } from "../util/async.js";
import { DeadlineLane, type Deadline } from "../util/deadlines.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { registerSecret } from "../logging/redact.js";
import { JsonBodyError } from "./sync-body.js";
import { allHeaders, nodeTransport, type FetchLike, type HeaderReader, type Transport, type TransportResponse } from "./transport.js";

export type { FetchLike } from "./transport.js";

/**
 * Where an {@link HttpClient} gets its access token, for sessions whose
 * tokens change (refresh tokens, re-login after a soft logout). See
 * `src/auth/` for niobot's implementation.
 */
export interface HttpAuth {
  /**
   * The access token to send now; may wait for a refresh that is due or in flight (a plain
   * value when nothing is to wait for: once per request, a promise would be garbage).
   */
  accessToken(signal?: AbortSignal): Promise<string | undefined> | string | undefined;
  /**
   * A request sent with `used` was answered 401 `M_UNKNOWN_TOKEN`. Resolves
   * once a newer token is in place (the request is then repeated once), or
   * throws when the session cannot be renewed.
   */
  rejected(used: string | undefined, error: MatrixError, signal?: AbortSignal): Promise<void>;
}

/** Retry policy of an {@link HttpClient}. */
export interface RetryOptions {
  /** How often one request may be retried after `M_LIMIT_EXCEEDED`/429 (default 8). */
  maxRateLimitRetries?: number;
  /** How often a safe request may be retried after a 5xx or network error (default 4). */
  maxTransientRetries?: number;
  /** First backoff delay for 5xx/network errors, doubled each time (default 500 ms). */
  initialBackoffMs?: number;
  /** Backoff cap (default 30 s). */
  maxBackoffMs?: number;
  /** Wait used for a 429 that names no delay (default 1 s). */
  defaultRateLimitMs?: number;
  /**
   * Longest rate-limit wait honoured (default 10 minutes). A 429 asking for more is not waited
   * out: its `MatrixError` (with `retryAfterMs`) is thrown at once, so one hostile or broken
   * answer cannot hold a room's send queue for days.
   */
  maxRateLimitWaitMs?: number;
}

/** Options of an {@link HttpClient}. */
export interface HttpClientOptions extends RetryOptions {
  /** Base URL of the homeserver, e.g. `https://matrix.example.org`. */
  baseUrl: string;
  /** Access token sent as a bearer header. Can be set later with {@link HttpClient.setAccessToken}. */
  accessToken?: string;
  /** A changing token source instead of a fixed token; see {@link HttpClient.setAuth}. */
  auth?: HttpAuth;
  /**
   * A `fetch` to send every request with (proxies, metrics, faults). Default: niobot's own
   * transport on `node:http`/`node:https` with a keep-alive agent, which keeps far less alive
   * per request than the global `fetch`; it follows redirects and decodes compressed bodies as
   * `fetch` does.
   */
  fetch?: FetchLike;
  /** Where retries are logged (at debug/warn level, secrets redacted). */
  logger?: Logger;
  /** Per-request time limit (default 60 s); long polls add their own timeout to it. */
  requestTimeoutMs?: number;
  /**
   * Appservice identity assertion: every request carries `user_id=<this>`, so an
   * application service's `as_token` acts as this user of its namespace.
   */
  assertUserId?: string;
}

/** One request, as endpoints describe it. */
export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path below the base URL, already encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body; ignored when `rawBody` is given. */
  body?: unknown;
  /** Raw bytes (uploads). */
  rawBody?: Uint8Array;
  contentType?: string;
  /** Send the access token (default true). */
  auth?: boolean;
  /** Cancels the request, including any wait between retries. */
  signal?: AbortSignal;
  /**
   * Whether repeating the request is harmless. Defaults to true for GET, PUT
   * and DELETE (PUT sends carry a transaction id, so the server deduplicates).
   */
  idempotent?: boolean;
  /** Extra time allowed on top of the client's request timeout (long polls). */
  extraTimeoutMs?: number;
  /** Return the raw response instead of decoding JSON (downloads). */
  raw?: boolean;
  /**
   * Reads a successful response's JSON body from its stream instead of as one text (the large
   * `/sync` bodies: `sync-body.ts`). It throws {@link JsonBodyError} for a body that is not JSON.
   */
  readJson?: (body: AsyncIterable<Uint8Array>) => Promise<unknown>;
}

/** A raw response: bytes and headers, for downloads. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** The longest delay a Node timer can hold; longer ones fire almost at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Time limits of distinct lengths that get a shared lane (the plain limit, the long poll's); others get a timer each. */
const MAX_TIMEOUT_LANES = 4;

/**
 * Reads the wait a rate-limited response asks for, from the body or the `Retry-After` header.
 * Negative or unreadable values count as absent; a huge one (even `1e400`, which JSON reads as
 * `Infinity`) is returned as is, for the caller's cap to refuse.
 */
export function retryAfterOf(body: Record<string, unknown>, headers: HeaderReader): number | undefined {
  const ms = body.retry_after_ms;
  if (typeof ms === "number" && ms >= 0) return ms;
  const header = headers.get("retry-after")?.trim();
  if (header === undefined || header === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(header)) return Number(header) * 1000;
  // An HTTP-date always names a day or month; this keeps Date.parse's leniency ("-5" as a year) out.
  const date = /[a-z]/i.test(header) ? Date.parse(header) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** What `URLSearchParams` escapes beyond `encodeURIComponent`, and the space it writes as `+`. */
const FORM_EXTRA = /[!'()~]|%20/g;

/**
 * A query key or value encoded as `URLSearchParams` encodes it (application/x-www-form-urlencoded,
 * lone surrogates as U+FFFD), without a `URLSearchParams` per request.
 */
export function formEncode(text: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch {
    // A lone surrogate: URLSearchParams holds USV strings, so it becomes U+FFFD there.
    return new URLSearchParams([["", text]]).toString().slice(1);
  }
  return encoded.replace(FORM_EXTRA, (c) => (c === "%20" ? "+" : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

function isUnknownToken(error: unknown): error is MatrixError {
  return error instanceof MatrixError && error.status === 401 && error.errcode === "M_UNKNOWN_TOKEN";
}

/**
 * A thin JSON-over-HTTP client for one homeserver.
 *
 * Rate limits (`M_LIMIT_EXCEEDED` / 429) are waited out and retried for every
 * request, a bounded number of times; 5xx and network failures are retried
 * with capped exponential backoff only for requests that are safe to repeat.
 */
export class HttpClient {
  readonly baseUrl: string;
  #accessToken: string | undefined;
  #auth: HttpAuth | undefined;
  readonly #transport: Transport;
  readonly #log: Logger;
  readonly #retry: Required<RetryOptions>;
  readonly #timeoutMs: number;
  readonly #assertUserId: string | undefined;
  /**
   * The requests' time limits, one lane per length: almost every request ends long before its
   * limit, and a timer per request (`setTimeout`, `unref`, `clearTimeout`, a timer list made and
   * dropped again) was a cost on every request that a set insertion and deletion replace.
   */
  readonly #lanes = new Map<number, DeadlineLane>();

  constructor(options: HttpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#accessToken = options.accessToken;
    registerSecret(options.accessToken);
    this.#auth = options.auth;
    // A fetch is a transport as it is: its Response has the shape the client reads.
    this.#transport = options.fetch ?? nodeTransport;
    this.#log = options.logger ?? silentLogger;
    this.#timeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#assertUserId = options.assertUserId;
    this.#retry = {
      maxRateLimitRetries: options.maxRateLimitRetries ?? 8,
      maxTransientRetries: options.maxTransientRetries ?? 4,
      initialBackoffMs: options.initialBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      defaultRateLimitMs: options.defaultRateLimitMs ?? 1_000,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 600_000,
    };
  }

  /** Sets (or clears) a fixed access token used from the next request on; replaces any {@link HttpAuth}. */
  setAccessToken(token: string | undefined): void {
    // Whatever its format, a token the bot holds never reaches a log line or an error message.
    registerSecret(token);
    this.#accessToken = token;
    this.#auth = undefined;
  }

  /**
   * Takes tokens from `auth` from the next request on: it is asked for the
   * token before every request, and told about every 401 `M_UNKNOWN_TOKEN`,
   * after which the request is repeated once with the new token (a send
   * keeps its transaction id, since the path is built once).
   */
  setAuth(auth: HttpAuth | undefined): void {
    this.#auth = auth;
    this.#accessToken = undefined;
  }

  /** The token source set with {@link HttpClient.setAuth}, if any. */
  get auth(): HttpAuth | undefined {
    return this.#auth;
  }

  /** Whether an access token is set. The token itself is never readable back. */
  get hasAccessToken(): boolean {
    return this.#accessToken !== undefined || this.#auth !== undefined;
  }

  /** Sends a request and decodes its JSON response, retrying as described above. */
  request<T>(req: HttpRequest): Promise<T> {
    // Not an async wrapper: each one is a promise and an await more on every request.
    return this.#send(req) as Promise<T>;
  }

  /** Sends a request and returns the raw bytes and headers (for downloads). */
  requestRaw(req: HttpRequest): Promise<RawResponse> {
    return this.#send({ ...req, raw: true }) as Promise<RawResponse>;
  }

  async #send(req: HttpRequest): Promise<unknown> {
    const url = this.#url(req);
    const info: RequestInfo = { method: req.method, path: url.slice(this.baseUrl.length) };
    const idempotent = req.idempotent ?? req.method !== "POST";
    let rateLimited = 0;
    let transient = 0;
    let reauthorized = false;
    for (;;) {
      let token = req.auth === false ? undefined : this.#token(req.signal);
      if (token instanceof Promise) token = await token;
      try {
        return await this.#exchange(req, url, info, token);
      } catch (error) {
        if (req.signal?.aborted) throw error;
        // A rejected token was never acted on, so even a POST may be repeated, once.
        if (this.#auth && !reauthorized && req.auth !== false && isUnknownToken(error)) {
          reauthorized = true;
          await this.#auth.rejected(token, error, req.signal);
          continue;
        }
        let wait: number | undefined;
        if (error instanceof MatrixError && (error.status === 429 || error.errcode === "M_LIMIT_EXCEEDED")) {
          if (rateLimited++ < this.#retry.maxRateLimitRetries) {
            wait = error.retryAfterMs ?? this.#retry.defaultRateLimitMs;
            // Past the cap, or past what a timer can hold (above 2^31-1 ms Node fires after 1 ms).
            if (!(wait <= Math.min(this.#retry.maxRateLimitWaitMs, MAX_TIMER_MS))) {
              this.#log.warn({ method: info.method, path: info.path, retryAfterMs: wait }, "rate-limit wait exceeds maxRateLimitWaitMs: not waiting");
              throw error;
            }
          }
        } else if (idempotent && (error instanceof MatrixNetworkError || (error instanceof MatrixError && error.status >= 500))) {
          if (transient < this.#retry.maxTransientRetries)
            wait = backoffDelay(transient++, this.#retry.initialBackoffMs, this.#retry.maxBackoffMs);
        }
        if (wait === undefined) throw error;
        this.#log.debug({ method: info.method, path: info.path, waitMs: wait, reason: (error as Error).message }, "retrying request");
        await sleep(wait, req.signal);
      }
    }
  }

  #url(req: HttpRequest): string {
    let url = this.baseUrl + req.path;
    const query = this.#assertUserId === undefined ? req.query : { ...req.query, user_id: this.#assertUserId };
    if (query) {
      let qs = "";
      for (const key in query) {
        const value = query[key];
        if (value === undefined || !Object.hasOwn(query, key)) continue;
        qs += `${qs === "" ? "" : "&"}${formEncode(key)}=${this.#encodeValue(String(value))}`;
      }
      // Some paths already carry a query (`?via=` of joins).
      if (qs) url += `${req.path.includes("?") ? "&" : "?"}${qs}`;
    }
    return url;
  }

  /** The last long query value encoded (the sync filter: the same JSON on every poll) and its encoding. */
  #long: [value: string, encoded: string] = ["", ""];

  #encodeValue(value: string): string {
    if (value.length < 64) return formEncode(value);
    if (this.#long[0] !== value) this.#long = [value, formEncode(value)];
    return this.#long[1];
  }

  #token(signal: AbortSignal | undefined): Promise<string | undefined> | string | undefined {
    return this.#auth ? this.#auth.accessToken(signal) : this.#accessToken;
  }

  /** One attempt: the request and its body read, under one controller and time limit (one async frame, not three). */
  async #exchange(req: HttpRequest, url: string, info: RequestInfo, token: string | undefined): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let body: Uint8Array | string | undefined;
    if (req.rawBody) {
      body = req.rawBody;
      headers["content-type"] = req.contentType ?? "application/octet-stream";
    } else if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["content-type"] = "application/json";
    }
    // One controller per request, for the caller's signal and the time limit alike: cheaper than
    // `AbortSignal.timeout` + `AbortSignal.any` (a timer, weak references and a finalizer per
    // request on Node 20, most of the per-request garbage), and the limit still covers the body.
    const controller = new AbortController();
    const outer = req.signal;
    const forward = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener("abort", forward, { once: true });
    const deadline = this.#deadline(this.#timeoutMs + (req.extraTimeoutMs ?? 0), () => controller.abort(new DOMException("request timed out", "TimeoutError")));
    try {
      let response: TransportResponse;
      try {
        response = await this.#transport(url, { method: req.method, headers, body, signal: controller.signal });
      } catch (error) {
        if (req.signal?.aborted) throw error;
        throw new MatrixNetworkError(info, isAbortError(error) ? new Error("request timed out") : error);
      }
      if (req.raw && response.ok) {
        const bytes = new Uint8Array(await this.#readBody(response, info, req.signal));
        return { status: response.status, headers: allHeaders(response.headers), body: bytes } satisfies RawResponse;
      }
      if (req.readJson && response.ok && response.body) return await this.#readStreamed(req.readJson, response.body, response.status, info, req.signal);
      return this.#parse(response, await this.#readText(response, info, req.signal), info);
    } finally {
      deadline.cancel();
      outer?.removeEventListener("abort", forward);
    }
  }

  /**
   * Calls `fire` `ms` from now unless cancelled first, on the lane of that length (lanes share an
   * unreferenced timer each: a time limit is no reason to keep the process alive, as with
   * `AbortSignal.timeout`). A length beyond the few lanes kept gets a timer of its own.
   */
  #deadline(ms: number, fire: () => void): Deadline {
    let lane = this.#lanes.get(ms);
    if (lane === undefined && this.#lanes.size < MAX_TIMEOUT_LANES && ms <= MAX_TIMER_MS) this.#lanes.set(ms, (lane = new DeadlineLane(ms)));
    if (lane !== undefined) return lane.after(fire);
    const timer = setTimeout(fire, ms);
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  }

  /** The JSON of a response whose body is `text`, or the response's error. */
  #parse(response: TransportResponse, text: string, info: RequestInfo): unknown {
    let json: unknown = {};
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        if (response.ok) throw new MatrixError(info, response.status, { errcode: "M_NOT_JSON", error: "response was not JSON" });
      }
    }
    if (!response.ok) {
      const record = json && typeof json === "object" && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
      throw new MatrixError(info, response.status, record, retryAfterOf(record, response.headers));
    }
    return json;
  }

  /**
   * The body as text, the way `res.json()` reads it: one buffer, one decode. Not `arrayBuffer()`:
   * on Node 20 that copies the whole buffer once more, and at 10 000 rooms the initial sync is
   * over 20 MB, so the extra copy beside the text and its parse was the peak RSS. Decoding chunk
   * by chunk into pieces was tried too: the pieces and their join both land on the JS heap, and
   * the peak was higher still.
   */
  async #readText(response: TransportResponse, info: RequestInfo, signal?: AbortSignal): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      // A connection that drops mid-body is a network failure, retried like one.
      throw new MatrixNetworkError(info, error);
    }
  }

  async #readStreamed(read: (body: AsyncIterable<Uint8Array>) => Promise<unknown>, body: AsyncIterable<Uint8Array>, status: number, info: RequestInfo, signal?: AbortSignal): Promise<unknown> {
    try {
      return await read(body);
    } catch (error) {
      if (error instanceof JsonBodyError) throw new MatrixError(info, status, { errcode: "M_NOT_JSON", error: "response was not JSON" });
      if (signal?.aborted) throw error;
      // A connection that drops mid-body is a network failure, retried like one.
      throw new MatrixNetworkError(info, error);
    }
  }

  async #readBody(response: TransportResponse, info: RequestInfo, signal?: AbortSignal): Promise<ArrayBuffer> {
    try {
      return await response.arrayBuffer();
    } catch (error) {
      if (signal?.aborted) throw error;
      // A connection that drops mid-body is a network failure, retried like one.
      throw new MatrixNetworkError(info, error);
    }
  }
}
