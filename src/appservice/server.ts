/**
 * The HTTP side of the application service API: what the homeserver calls.
 * Plain `node:http`: routing is five paths, and a framework would be more code
 * to audit than this.
 *
 * - Every request must carry the `hs_token` (`Authorization: Bearer`, or the
 *   legacy `access_token` query parameter; both must match when both are
 *   given), compared in constant time. A wrong token gets 403 `M_FORBIDDEN`
 *   and reaches no handler; a missing one 401 `M_UNAUTHORIZED`.
 * - Bodies are capped ({@link AppserviceServerOptions.maxBodyBytes}) and must
 *   be JSON objects; anything else is a 400 with a reason.
 * - A transaction is answered 200 only after its handler resolved: a crash
 *   before that makes the homeserver send it again.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logging/logger.js";

/** A transaction body as the homeserver sends it (unchecked beyond being an object). */
export interface TransactionBody {
  events?: unknown;
  ephemeral?: unknown;
  /** MSC2409 (Synapse's unstable name): to-device events. */
  "de.sorunome.msc2409.to_device"?: unknown;
  /** MSC3202: device list changes. */
  "org.matrix.msc3202.device_lists"?: unknown;
  /** MSC3202: one-time key counts per user and device. */
  "org.matrix.msc3202.device_one_time_keys_count"?: unknown;
  [key: string]: unknown;
}

/** What the server calls; every method may throw (answered 500, and the homeserver retries). */
export interface AppserviceHandlers {
  /** A transaction; resolve once every event was handled. */
  transaction(txnId: string, body: TransactionBody, signal: AbortSignal): Promise<void>;
  /** Whether a user id in the namespace exists (it may be created now). */
  queryUser(userId: string, signal: AbortSignal): Promise<boolean>;
  /** Whether a room alias in the namespace exists (the room may be created now). */
  queryAlias(alias: string, signal: AbortSignal): Promise<boolean>;
  /** The homeserver answers a ping (`POST /_matrix/app/v1/ping`). */
  ping?(transactionId: string | undefined): void;
}

/** Options of an {@link AppserviceServer}. */
export interface AppserviceServerOptions {
  /** The token the homeserver must present. Secret. */
  hsToken: string;
  handlers: AppserviceHandlers;
  log: Logger;
  /** Largest accepted request body (default 64 MiB: Synapse sends up to 100 events plus ephemeral data per transaction). */
  maxBodyBytes?: number;
}

/** Where the server listens. */
export interface ListenOptions {
  /** Port (0 or absent: any free port; see {@link AppserviceServer.port}). */
  port?: number;
  /** Interface (default `127.0.0.1`). */
  host?: string;
}

class HttpFailure extends Error {
  constructor(readonly status: number, readonly errcode: string, message: string) {
    super(message);
  }
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
/** Path prefixes the API lives under: the versioned one, and the legacy unprefixed routes older servers use. */
const PREFIXES = ["/_matrix/app/v1", ""];

/** Hashes both sides first, so the comparison takes the same time whatever the lengths. */
function sameToken(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The HTTP server the homeserver pushes to. */
export class AppserviceServer {
  readonly #o: AppserviceServerOptions;
  #server: Server | undefined;
  readonly #abort = new AbortController();
  readonly #open = new Set<Promise<void>>();

  constructor(options: AppserviceServerOptions) {
    this.#o = options;
  }

  /** The port listened on, once listening. */
  get port(): number {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("the appservice server is not listening");
    return address.port;
  }

  /** Starts listening. */
  async listen(options: ListenOptions = {}): Promise<void> {
    const server = createServer((req, res) => {
      const handled = this.#handle(req, res);
      this.#open.add(handled);
      void handled.finally(() => this.#open.delete(handled));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
  }

  /**
   * Stops listening and aborts running handlers; a transaction cut off is not
   * acknowledged (the connection is closed), so the homeserver sends it again.
   */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#abort.abort(new DOMException("the appservice is stopping", "AbortError"));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.#open]);
    server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://appservice.invalid");
      this.#authorize(req, url);
      const route = this.#route(req.method ?? "GET", url.pathname);
      const body = req.method === "PUT" || req.method === "POST" ? await this.#readJson(req) : {};
      this.#send(res, 200, await route(body));
    } catch (error) {
      if (error instanceof HttpFailure) {
        if (error.status === 403) this.#o.log.warn({ method: req.method, path: pathOnly(req.url) }, "request with a wrong hs_token refused");
        this.#send(res, error.status, { errcode: error.errcode, error: error.message });
        return;
      }
      if (this.#abort.signal.aborted) {
        // Not acknowledged: the homeserver sends the transaction again after the restart.
        res.destroy();
        return;
      }
      this.#o.log.error({ error: error instanceof Error ? error : String(error), path: pathOnly(req.url) }, "appservice request failed");
      this.#send(res, 500, { errcode: "M_UNKNOWN", error: "the appservice could not handle the request" });
    }
  }

  #authorize(req: IncomingMessage, url: URL): void {
    const header = req.headers.authorization;
    const bearer = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
    const query = url.searchParams.get("access_token") ?? undefined;
    if (bearer === undefined && query === undefined) throw new HttpFailure(401, "M_UNAUTHORIZED", "missing hs_token");
    // Both given: both must match (the spec asks appservices to check that).
    for (const token of [bearer, query])
      if (token !== undefined && !sameToken(token, this.#o.hsToken)) throw new HttpFailure(403, "M_FORBIDDEN", "bad hs_token");
  }

  #route(method: string, path: string): (body: Record<string, unknown>) => Promise<Record<string, unknown>> {
    const signal = this.#abort.signal;
    const h = this.#o.handlers;
    for (const prefix of PREFIXES) {
      if (!path.startsWith(`${prefix}/`)) continue;
      const [kind, rawId, ...extra] = path.slice(prefix.length + 1).split("/");
      if (extra.length > 0 || kind === undefined) break;
      const id = rawId === undefined ? undefined : decodeComponent(rawId);
      if (kind === "transactions" && id && method === "PUT")
        return async (body) => (await h.transaction(id, body, signal), {});
      if (kind === "users" && id && method === "GET")
        return async () => ((await h.queryUser(id, signal)) ? {} : notFound("no such user"));
      if (kind === "rooms" && id && method === "GET")
        return async () => ((await h.queryAlias(id, signal)) ? {} : notFound("no such room alias"));
      if (kind === "ping" && id === undefined && method === "POST" && prefix !== "")
        return async (body) => (h.ping?.(typeof body.transaction_id === "string" ? body.transaction_id : undefined), {});
    }
    throw new HttpFailure(404, "M_UNRECOGNIZED", "unknown endpoint");
  }

  async #readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const max = this.#o.maxBodyBytes ?? DEFAULT_MAX_BODY;
    if (Number(req.headers["content-length"] ?? 0) > max) throw new HttpFailure(413, "M_TOO_LARGE", "request body too large");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new HttpFailure(413, "M_TOO_LARGE", "request body too large");
      chunks.push(chunk);
    }
    if (size === 0) return {};
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new HttpFailure(400, "M_NOT_JSON", "the body is not JSON");
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new HttpFailure(400, "M_BAD_JSON", "the body must be a JSON object");
    return value as Record<string, unknown>;
  }

  #send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }
}

function notFound(message: string): never {
  throw new HttpFailure(404, "M_NOT_FOUND", message);
}

function decodeComponent(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpFailure(400, "M_INVALID_PARAM", "badly encoded path");
  }
}

/** The path without the query, which may hold the legacy `access_token`. */
function pathOnly(url: string | undefined): string {
  return (url ?? "").split("?")[0] ?? "";
}
