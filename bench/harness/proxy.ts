/**
 * A counting HTTP proxy on loopback in front of Synapse. The bot under test
 * talks to it as its homeserver, so every bot is counted the same way,
 * whatever HTTP client it uses. It also tells when the bot is listening:
 * the first `/sync` with a `since` token is the long poll after its initial sync
 * (for sliding sync, the first request with a `pos`).
 */
import { request as httpRequest, createServer, Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { requestShape } from "./stats.js";

/** A running proxy. */
export interface CountingProxy {
  /** The base URL to give the bot as its homeserver. */
  readonly url: string;
  /** Request counts per shape since the last {@link CountingProxy.reset}. */
  counts(): Record<string, number>;
  /** The first requests since the last {@link CountingProxy.reset} (at most {@link TIMELINE_MAX}), in the order they arrived. */
  timeline(): TimedRequest[];
  /** Zeroes the counts and re-arms {@link CountingProxy.listening}. */
  reset(): void;
  /** Resolves when the bot sends its first `/sync` with a `since` token after the last reset. */
  listening(): Promise<void>;
  close(): Promise<void>;
}

/** One request as the proxy saw it: when it arrived and when its response ended, in ms since the last reset. */
export interface TimedRequest {
  shape: string;
  at: number;
  end?: number;
  status?: number;
}

/** How many requests {@link CountingProxy.timeline} keeps: the start-up's, not the load's. */
export const TIMELINE_MAX = 200;

/** The headers without the hop-by-hop ones, which describe one connection and are not forwarded. */
function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { connection: _c, "keep-alive": _k, "proxy-connection": _p, ...rest } = headers as IncomingHttpHeaders & { "proxy-connection"?: string };
  return rest;
}

/** Starts a proxy forwarding to `target` (e.g. `http://127.0.0.1:8008`). */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  // A fresh upstream connection per request: a reused one that Synapse closed meanwhile would fail
  // the bot's request, a failure the bot would never see without the proxy.
  const agent = new Agent({ keepAlive: false });
  let counts = new Map<string, number>();
  let timeline: TimedRequest[] = [];
  let since = performance.now();
  let armed: { promise: Promise<void>; resolve: () => void; done: boolean };
  const arm = (): void => {
    let resolve = (): void => {};
    const promise = new Promise<void>((r) => (resolve = r));
    armed = { promise, resolve, done: false };
  };
  arm();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const shape = requestShape(method, url);
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
    const timed: TimedRequest | undefined = timeline.length < TIMELINE_MAX ? { shape, at: Math.round(performance.now() - since) } : undefined;
    if (timed) timeline.push(timed);
    const path = url.split("?")[0] ?? "";
    const polling = (method === "GET" && /\/sync$/.test(path) && /[?&]since=/.test(url)) || (method === "POST" && /simplified_msc3575\/sync$/.test(path) && /[?&]pos=/.test(url));
    if (!armed.done && polling) {
      armed.done = true;
      armed.resolve();
    }
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path: url, headers: { ...endToEnd(req.headers), host: upstream.host }, agent },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, endToEnd(ures.headers));
        if (timed) {
          timed.status = ures.statusCode;
          res.once("finish", () => (timed.end = Math.round(performance.now() - since)));
        }
        ures.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "bench proxy: upstream failed" }));
    });
    // A bot that gives up on a request (e.g. its long poll on stop) should not leave it running upstream.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const server = createServer(forward);
  // Initial syncs of thousands of rooms take minutes; never cut them off here.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  // Never close an idle keep-alive connection: Node's default (5 s) races with clients that reuse
  // the socket at that moment (matrix-bot-sdk's \`request\` then fails with "socket hang up").
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => Object.fromEntries(counts),
    timeline: () => timeline.slice(),
    reset: () => {
      counts = new Map();
      timeline = [];
      since = performance.now();
      arm();
    },
    listening: () => armed.promise,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
