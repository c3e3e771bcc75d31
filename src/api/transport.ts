/**
 * The seam under {@link HttpClient}: one function that sends a request and answers with a status,
 * headers and a body to read as text, as bytes or as a stream. A `fetch` is one (its `Response`
 * has exactly that shape, so an injected {@link FetchLike} is used as it is, without a wrapper);
 * the default is {@link nodeTransport}, on `node:http`/`node:https` with a keep-alive agent.
 *
 * Why not `fetch` by default: each reply in flight kept about 22 KB alive inside undici's
 * Request/Response/web-streams machinery until the homeserver answered, and undici was the
 * largest single CPU cost of a bot at steady state. A request here is a `ClientRequest`, its
 * `IncomingMessage` and one small response object.
 *
 * What the default transport does as `fetch` did: redirects are followed (up to 20; 303, and
 * 301/302 of a POST, become a GET without a body; the `authorization` header is dropped when a
 * redirect leaves the origin), compressed bodies (gzip, deflate, br) are decoded, the system CAs
 * verify https, and the request's signal destroys the request and its socket at once. Unlike
 * `fetch`, a request that fails because the server had just closed the idle keep-alive socket it
 * was sent on is sent once more on a new one (what Node's documentation advises): the server
 * never saw it.
 *
 * @module
 */
import { createRequire } from "node:module";
import * as http from "node:http";
import { urlToHttpOptions } from "node:url";
import type * as https from "node:https";
import type * as zlib from "node:zlib";
import type { Readable } from "node:stream";

/** The `fetch` signature niobot needs; inject one to add proxies, metrics or faults. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** What a {@link Transport} is asked to send. */
export interface TransportRequest {
  method: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** Ends the request (and the read of its body) when aborted, rejecting with its reason. */
  signal: AbortSignal;
}

/** The headers of a {@link TransportResponse}, read one by one (names in any case). */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * A response: its body is read once, by one of `text()`, `arrayBuffer()` or iterating `body`.
 * A `fetch` `Response` is one.
 */
export interface TransportResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: HeaderReader;
  /** The body decoded as UTF-8 (a leading byte order mark dropped). */
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** The body's bytes as they arrive. */
  readonly body: AsyncIterable<Uint8Array> | null;
}

/** Sends one request; rejects when no response arrives (refused, reset, aborted). */
export type Transport = (url: string, request: TransportRequest) => Promise<TransportResponse>;

/** The largest `content-length` a body buffer is allocated for before its bytes arrive. */
const MAX_PREALLOCATED = 64 * 1024 * 1024;
/** How many redirects one request follows, as `fetch` does. */
const MAX_REDIRECTS = 20;
/** An idle pooled connection is closed after this long (undici's default), or sooner if the server's `Keep-Alive` hint says so. */
const IDLE_SOCKET_MS = 4_000;

const require = createRequire(import.meta.url);
let httpsModule: typeof https | undefined;
let zlibModule: typeof zlib | undefined;
let httpAgent: http.Agent | undefined;
let httpsAgent: https.Agent | undefined;

/** The process-wide keep-alive agent of a protocol; `node:https` is loaded on the first https URL only. */
function agentFor(secure: boolean): { request: typeof http.request; agent: http.Agent } {
  if (!secure) return { request: http.request, agent: (httpAgent ??= new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: "lifo" })) };
  httpsModule ??= require("node:https") as typeof https;
  return { request: httpsModule.request, agent: (httpsAgent ??= new httpsModule.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: "lifo" })) };
}

function ignore(): void {}

/** Header values as `Headers.get` gives them: repeated ones joined with ", ". */
class NodeHeaders implements HeaderReader {
  constructor(readonly raw: http.IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }
}

/**
 * A response's headers as a `Headers` (downloads hand them out): a fetch's as they are, the
 * default transport's copied into one (the `Headers` class is undici's, loaded on first use).
 */
export function allHeaders(headers: HeaderReader): Headers {
  if (!(headers instanceof NodeHeaders)) return headers as Headers;
  const all = new Headers();
  for (const [name, value] of Object.entries(headers.raw)) {
    if (Array.isArray(value)) for (const one of value) all.append(name, one);
    else if (value !== undefined) all.append(name, value);
  }
  return all;
}

/** The response to one request on the default transport. */
class NodeResponse implements TransportResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: NodeHeaders;
  readonly #source: Readable;
  readonly #length: number;
  readonly #signal: AbortSignal;

  constructor(message: http.IncomingMessage, signal: AbortSignal) {
    this.status = message.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = new NodeHeaders(message.headers);
    this.#signal = signal;
    const encoding = message.headers["content-encoding"]?.trim().toLowerCase();
    const decoder = encoding === undefined || encoding === "" || encoding === "identity" ? undefined : decoderFor(encoding);
    // An error before the body's reader listens (a reset in between) must not go unhandled.
    message.on("error", ignore);
    if (decoder === undefined) {
      this.#source = message;
      const length = Number(message.headers["content-length"]);
      this.#length = Number.isSafeInteger(length) && length >= 0 ? length : -1;
    } else {
      // A reset connection ends the decoded stream with its error too.
      message.on("error", (error) => decoder.destroy(error));
      decoder.on("error", ignore);
      this.#source = message.pipe(decoder);
      this.#length = -1;
    }
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.#source;
  }

  text(): Promise<string> {
    return this.#read(decode);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read(ownBuffer);
  }

  /**
   * The whole body. With a `content-length`, into one buffer of that size as the chunks arrive
   * (each chunk is garbage at once: at the peak of a 20 MB initial sync, one copy of the bytes
   * exists, not the chunks and their concatenation); otherwise the chunks and one join.
   */
  #read<T>(finish: (bytes: Buffer) => T): Promise<T> {
    const source = this.#source;
    const signal = this.#signal;
    // One promise per body read, resolved with the finished value (no async wrapper around it).
    return new Promise<T>((resolve, reject) => {
      if (source.destroyed && !source.readableEnded) return reject(signal.aborted ? signal.reason : (source.errored ?? new Error("response body cut short")));
      const known = this.#length;
      // A length announced but not yet seen is not trusted with more than MAX_PREALLOCATED bytes.
      const whole = known > 0 && known <= MAX_PREALLOCATED ? Buffer.allocUnsafeSlow(known) : undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      source.on("data", (chunk: Buffer) => {
        if (whole !== undefined && size + chunk.length <= known) chunk.copy(whole, size);
        else chunks.push(chunk);
        size += chunk.length;
      });
      source.once("end", () => {
        if (whole !== undefined && size === known) resolve(finish(whole));
        else if (whole !== undefined) reject(new Error(`response body length ${size} differs from its content-length ${known}`));
        else resolve(finish(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
      });
      source.once("error", (error) => reject(signal.aborted ? signal.reason : error));
      // A response whose connection closed before its end (an abort, a reset): `end` never comes.
      source.once("close", () => {
        if (!source.readableEnded) reject(signal.aborted ? signal.reason : new Error("response body cut short"));
      });
    });
  }
}

/** As fetch's text() (TextDecoder): a byte order mark is dropped, malformed bytes become U+FFFD. */
function decode(bytes: Buffer): string {
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return bytes.toString("utf8", bom ? 3 : 0);
}

/** The bytes in an ArrayBuffer of their own (a small Buffer may sit in a shared pool). */
function ownBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : new Uint8Array(bytes).buffer;
}

function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  zlibModule ??= require("node:zlib") as typeof zlib;
  // Lenient like fetch's own decoding: a body cut at its very end still gives what it has.
  const flush = { flush: zlibModule.constants.Z_SYNC_FLUSH, finishFlush: zlibModule.constants.Z_SYNC_FLUSH };
  if (encoding === "gzip" || encoding === "x-gzip") return zlibModule.createGunzip(flush);
  if (encoding === "deflate") return zlibModule.createInflate(flush);
  if (encoding === "br") return zlibModule.createBrotliDecompress();
  return undefined;
}

/** The request a redirect leads to, as `fetch` follows it (`undefined`: not a redirect to follow). */
function redirected(status: number, location: string | undefined, url: string, request: TransportRequest): { url: string; request: TransportRequest } | undefined {
  if (location === undefined || !(status === 301 || status === 302 || status === 303 || status === 307 || status === 308)) return undefined;
  const from = new URL(url);
  const next = new URL(location, from);
  if (next.protocol !== "http:" && next.protocol !== "https:") return undefined;
  let { method, body } = request;
  const headers = { ...request.headers };
  if (status === 303 ? method !== "HEAD" : (status === 301 || status === 302) && method === "POST") {
    method = "GET";
    body = undefined;
    delete headers["content-type"];
    delete headers["content-length"];
  }
  // Credentials are not handed to another origin.
  if (next.origin !== from.origin) delete headers.authorization;
  return { url: next.href, request: { method, headers, body, signal: request.signal } };
}

/**
 * The default transport: `node:http` (or `node:https`, loaded for the first https URL) over a
 * process-wide keep-alive agent per protocol. Bodies are sent with a `content-length`.
 */
export const nodeTransport: Transport = (url, request) => send(url, request, 0);

/** Where an origin's requests go, parsed once per origin (a bot talks to one). */
interface Target {
  secure: boolean;
  options: http.RequestOptions;
}

const targets = new Map<string, Target>();

/** The target and path of an absolute URL, without a `URL` object per request. */
function targetOf(url: string): { target: Target; path: string } {
  const authority = url.indexOf("//") + 2;
  let end = authority;
  while (end < url.length && url[end] !== "/" && url[end] !== "?" && url[end] !== "#") end++;
  const origin = url.slice(0, end);
  let target = targets.get(origin);
  if (target === undefined) {
    const parsed = new URL(origin);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new TypeError(`unsupported protocol ${parsed.protocol}`);
    // A few origins at most (the homeserver, a redirect's); the map is not a cache of every URL seen.
    if (targets.size >= 16) targets.clear();
    targets.set(origin, (target = { secure: parsed.protocol === "https:", options: urlToHttpOptions(parsed) }));
  }
  const hash = url.indexOf("#", end);
  const path = url.slice(end, hash < 0 ? undefined : hash);
  return { target, path: path === "" || path[0] === "?" ? `/${path}` : path };
}

function send(url: string, request: TransportRequest, redirects: number): Promise<TransportResponse> {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(signal.reason);
  let target: Target;
  let path: string;
  try {
    ({ target, path } = targetOf(url));
  } catch (error) {
    return Promise.reject(error);
  }
  const { request: open, agent } = agentFor(target.secure);
  const body = typeof request.body === "string" ? Buffer.from(request.body) : request.body;
  const headers: Record<string, string> = { "accept-encoding": "gzip, deflate, br", ...request.headers };
  if (body !== undefined || request.method === "POST" || request.method === "PUT") headers["content-length"] = String(body?.byteLength ?? 0);
  return new Promise<TransportResponse>((resolve, reject) => {
    let retried = false;
    const attempt = (): void => {
      let answered: http.IncomingMessage | undefined;
      const req = open({ ...target.options, path, method: request.method, headers, agent });
      // The response first, so that its reader fails with the signal's reason, then the socket.
      const abort = (): void => void (answered?.destroy(signal.reason), req.destroy(signal.reason));
      signal.addEventListener("abort", abort, { once: true });
      req.on("error", (error: NodeJS.ErrnoException) => {
        signal.removeEventListener("abort", abort);
        if (answered) return;
        if (signal.aborted) return reject(signal.reason);
        // The server closed the pooled connection as this request went out on it: it never saw it.
        if (req.reusedSocket && !retried && (error.code === "ECONNRESET" || error.code === "EPIPE")) {
          retried = true;
          return attempt();
        }
        reject(error);
      });
      req.on("response", (message) => {
        answered = message;
        const next = redirects < MAX_REDIRECTS ? redirected(message.statusCode ?? 0, message.headers.location, url, request) : undefined;
        if (next !== undefined) {
          signal.removeEventListener("abort", abort);
          message.resume();
          resolve(send(next.url, next.request, redirects + 1));
          return;
        }
        // From here the body's reader sees the abort: the request is destroyed, its response errors.
        message.once("end", () => signal.removeEventListener("abort", abort));
        resolve(new NodeResponse(message, signal));
      });
      req.end(body);
    };
    attempt();
  });
}
