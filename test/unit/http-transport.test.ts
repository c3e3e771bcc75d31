/**
 * The default transport (`node:http` with a keep-alive agent) under HttpClient, against a real
 * local `node:http` server started here: pure transport behaviour (sockets, bodies, aborts,
 * encodings, redirects), with no homeserver logic involved. What HttpClient adds on top (retries,
 * time limits, error mapping) is checked through it, since that is how the bot uses it.
 */
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { MatrixError, MatrixNetworkError } from "../../src/api/errors.js";
import { HttpClient } from "../../src/api/http.js";
import { readSyncBody } from "../../src/api/sync-body.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A local server whose handler each test sets; counts connections and remembers open sockets. */
class Local {
  readonly server: Server;
  handler: Handler = (_req, res) => res.end("{}");
  connections = 0;
  readonly sockets = new Set<Socket>();
  readonly closed: Socket[] = [];

  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => this.handler(req, res, body));
    });
    this.server.on("connection", (socket: Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on("close", () => (this.sockets.delete(socket), this.closed.push(socket)));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

const local = new Local();
const other = new Local();
let base = "";
let otherBase = "";
before(async () => {
  base = await local.start();
  otherBase = await other.start();
});
after(() => {
  for (const s of [local, other]) {
    for (const socket of s.sockets) socket.destroy();
    s.server.close();
  }
});

const client = (extra: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}): HttpClient =>
  new HttpClient({ baseUrl: base, accessToken: "secret-token", maxTransientRetries: 0, ...extra });

/** Resolves when the server has received `n` more requests. */
function requestsSeen(n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const count = (): void => void (++seen === n && (local.server.off("request", count), resolve()));
    local.server.on("request", count);
  });
}

describe("the default transport (node:http)", () => {
  test("sequential requests reuse one keep-alive connection", async () => {
    local.handler = (_req, res) => res.end('{"ok":true}');
    const before = local.connections;
    const http = client();
    for (let i = 0; i < 10; i++) assert.deepEqual(await http.request({ method: "GET", path: "/x" }), { ok: true });
    assert.equal(local.connections - before, 1);
  });

  test("sends the token, a JSON body with its content-length, and reads a chunked body split mid-character", async () => {
    let seen: { headers: IncomingMessage["headers"]; body: string; method?: string } | undefined;
    local.handler = (req, res, body) => {
      seen = { headers: req.headers, body, method: req.method };
      res.writeHead(200, { "content-type": "application/json" });
      const bytes = Buffer.from('{"text":"ключ🔑"}');
      // No content-length: chunked, cut inside the multi-byte characters.
      res.write(bytes.subarray(0, 11));
      setTimeout(() => (res.write(bytes.subarray(11, 14)), res.end(bytes.subarray(14))), 5);
    };
    const result = await client().request({ method: "PUT", path: "/send/1", body: { body: "pöng" } });
    assert.deepEqual(result, { text: "ключ🔑" });
    assert.equal(seen?.method, "PUT");
    assert.equal(seen?.headers.authorization, "Bearer secret-token");
    assert.equal(seen?.headers["content-length"], String(Buffer.byteLength('{"body":"pöng"}')));
    assert.equal(seen?.headers["transfer-encoding"], undefined);
    assert.equal(seen?.body, '{"body":"pöng"}');
  });

  test("a body with a content-length and a byte order mark is read as fetch reads it", async () => {
    local.handler = (_req, res) => {
      const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":"é"}')]);
      res.writeHead(200, { "content-length": bytes.length });
      res.write(bytes.subarray(0, 5));
      setTimeout(() => res.end(bytes.subarray(5)), 5);
    };
    assert.deepEqual(await client().request({ method: "GET", path: "/x" }), { a: "é" });
  });

  for (const [encoding, compress] of [["gzip", gzipSync], ["deflate", deflateSync], ["br", brotliCompressSync]] as const) {
    test(`a ${encoding} body is decoded (the request offers gzip, deflate and br)`, async () => {
      let offered: string | undefined;
      local.handler = (req, res) => {
        offered = req.headers["accept-encoding"];
        const bytes = compress(Buffer.from(JSON.stringify({ big: "x".repeat(100_000) })));
        res.writeHead(200, { "content-encoding": encoding, "content-length": bytes.length });
        res.end(bytes);
      };
      assert.deepEqual(await client().request({ method: "GET", path: "/x" }), { big: "x".repeat(100_000) });
      assert.equal(offered, "gzip, deflate, br");
    });
  }

  test("a /sync body is streamed to readJson (here compressed, in many chunks)", async () => {
    const body = { next_batch: "s1", rooms: { join: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`!r${i}:x`, { timeline: { events: [{ n: i }] } }])) } };
    local.handler = (_req, res) => {
      const bytes = gzipSync(Buffer.from(JSON.stringify(body)));
      res.writeHead(200, { "content-encoding": "gzip" });
      for (let i = 0; i < bytes.length; i += 100) res.write(bytes.subarray(i, i + 100));
      res.end();
    };
    const rooms: string[] = [];
    const result = await client().request({ method: "GET", path: "/sync", readJson: (stream) => readSyncBody(stream, (id) => (rooms.push(id), false)) });
    assert.deepEqual(result, body);
    assert.equal(rooms.length, 200);
  });

  test("an error status is a MatrixError with its errcode; a 429's Retry-After header is waited out", async () => {
    let calls = 0;
    local.handler = (_req, res) => {
      if (calls++ === 0) return void res.writeHead(429, { "retry-after": "0", "content-type": "application/json" }).end('{"errcode":"M_LIMIT_EXCEEDED"}');
      res.writeHead(404).end('{"errcode":"M_NOT_FOUND","error":"no"}');
    };
    await assert.rejects(client().request({ method: "GET", path: "/x" }), (e: unknown) => e instanceof MatrixError && e.errcode === "M_NOT_FOUND" && e.status === 404);
    assert.equal(calls, 2);
  });

  test("aborting a long poll destroys its request and socket at once, with the caller's reason", async () => {
    local.handler = () => undefined; // never answers
    const seen = requestsSeen(1);
    const closedBefore = local.closed.length;
    const controller = new AbortController();
    const pending = client().request({ method: "GET", path: "/sync", signal: controller.signal });
    await seen;
    controller.abort(new DOMException("stop", "AbortError"));
    await assert.rejects(pending, { message: "stop" });
    // The server sees its socket close (this waits for it; it would hang, not pass, if it never did).
    while (local.closed.length === closedBefore) await new Promise((r) => setTimeout(r, 1));
  });

  test("aborting in the middle of a body ends its read with the caller's reason, streamed or not", async () => {
    for (const streamed of [false, true]) {
      local.handler = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"next_batch":"s1","rooms":{"join":{');
      };
      const controller = new AbortController();
      const seen = requestsSeen(1);
      const pending = client().request({ method: "GET", path: "/sync", signal: controller.signal, ...(streamed ? { readJson: (s: AsyncIterable<Uint8Array>) => readSyncBody(s) } : {}) });
      await seen;
      await new Promise((r) => setTimeout(r, 20));
      controller.abort(new DOMException("stop mid-body", "AbortError"));
      await assert.rejects(pending, { message: "stop mid-body" });
    }
  });

  test("the time limit ends a body that stalls after its headers: a network error saying it timed out", async () => {
    local.handler = (_req, res) => void res.writeHead(200).write('{"a":');
    await assert.rejects(client({ requestTimeoutMs: 50 }).request({ method: "GET", path: "/x" }), (e: unknown) => e instanceof MatrixNetworkError && /timed out/.test(String((e as Error).cause)));
  });

  test("a connection reset (before the answer, or in the middle of the body) is a MatrixNetworkError, retried when safe", async () => {
    local.handler = (req) => req.socket.destroy();
    await assert.rejects(client().request({ method: "GET", path: "/x" }), MatrixNetworkError);
    local.handler = (req, res) => {
      res.writeHead(200, { "content-length": 100 });
      res.write('{"a":');
      setTimeout(() => req.socket.destroy(), 5);
    };
    await assert.rejects(client().request({ method: "GET", path: "/x" }), MatrixNetworkError);
    let calls = 0;
    local.handler = (req, res) => (calls++ === 0 ? req.socket.destroy() : res.end('{"second":true}'));
    assert.deepEqual(await client({ maxTransientRetries: 1, initialBackoffMs: 1 }).request({ method: "GET", path: "/x" }), { second: true });
  });

  test("a content-length far beyond what arrives (a hostile 10 GB) is a MatrixNetworkError, nothing of that size allocated", async () => {
    local.handler = (req, res) => {
      res.writeHead(200, { "content-length": String(10 * 2 ** 30) });
      res.write('{"a":1}');
      setTimeout(() => req.socket.destroy(), 5);
    };
    const rss = process.memoryUsage().rss;
    await assert.rejects(client().request({ method: "GET", path: "/x" }), MatrixNetworkError);
    assert.ok(process.memoryUsage().rss - rss < 2 ** 30);
  });

  test("a refused connection is a MatrixNetworkError, and the token is not in its message", async () => {
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1", accessToken: "secret-token", maxTransientRetries: 0 });
    await assert.rejects(http.request({ method: "GET", path: "/x", query: { access_token: "secret-token" } }), (e: unknown) => e instanceof MatrixNetworkError && !e.message.includes("secret-token"));
  });

  test("a request sent on a keep-alive socket the server has just closed is sent again on a new one, once", async () => {
    // The server answers, then drops the connection on the next request without reading it, as a
    // server that timed the idle connection out does: even a POST (never retried by the client) goes through.
    let calls = 0;
    local.handler = (req, res) => (calls++ === 1 ? req.socket.destroy() : res.end(`{"n":${calls}}`));
    const http = client();
    await http.request({ method: "GET", path: "/x" });
    assert.deepEqual(await http.request({ method: "POST", path: "/y", body: {} }), { n: 3 });
    // A fresh connection that is reset is not resent.
    for (const socket of local.sockets) socket.destroy();
    calls = 0;
    local.handler = (req) => (calls++, req.socket.destroy());
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(http.request({ method: "POST", path: "/y", body: {} }), MatrixNetworkError);
    assert.equal(calls, 1);
  });

  test("redirects are followed as fetch follows them; the token does not follow to another origin", async () => {
    const seen: string[] = [];
    local.handler = (req, res, body) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"} ${body}`);
      if (req.url === "/a") return void res.writeHead(307, { location: "/b" }).end();
      if (req.url === "/b") return void res.writeHead(303, { location: "/c" }).end();
      if (req.url === "/c") return void res.writeHead(302, { location: `${otherBase}/d` }).end();
      res.end("{}");
    };
    other.handler = (req, res) => (seen.push(`${req.method} other${req.url} ${req.headers.authorization ?? "-"}`), res.end('{"done":1}'));
    assert.deepEqual(await client().request({ method: "POST", path: "/a", body: { x: 1 } }), { done: 1 });
    assert.deepEqual(seen, ['POST /a Bearer secret-token {"x":1}', 'POST /b Bearer secret-token {"x":1}', "GET /c Bearer secret-token ", "GET other/d -"]);
  });

  test("a base URL with a path of its own, and a query, reach the server as written", async () => {
    const urls: string[] = [];
    local.handler = (req, res) => (urls.push(req.url ?? ""), res.end("{}"));
    await new HttpClient({ baseUrl: `${base}/prefix/`, maxTransientRetries: 0 }).request({ method: "GET", path: "/x/%21room", query: { a: "b c", d: 1 } });
    await new HttpClient({ baseUrl: base, maxTransientRetries: 0 }).request({ method: "GET", path: "", query: { q: "1" } });
    assert.deepEqual(urls, ["/prefix/x/%21room?a=b+c&d=1", "/?q=1"]);
  });

  test("a download's raw bytes and headers", async () => {
    local.handler = (_req, res) => void res.writeHead(200, { "content-type": "image/png", "x-many": ["a", "b"] }).end(Buffer.from([1, 2, 3]));
    const raw = await client().requestRaw({ method: "GET", path: "/download" });
    assert.deepEqual([...raw.body], [1, 2, 3]);
    assert.equal(raw.headers.get("content-type"), "image/png");
    assert.equal(raw.headers.get("x-many"), "a, b");
  });
});

describe("what the default transport costs", () => {
  test("a request makes at most 10 promises in all (through the global fetch: over 100)", async () => {
    local.handler = (_req, res) => res.end('{"event_id":"$e"}');
    const http = client();
    const send = () => http.request({ method: "PUT", path: "/send/1", body: { body: "pong" } });
    for (let i = 0; i < 5; i++) await send();
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      let count = 0;
      // The server here makes none: its handler is plain callbacks.
      const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && count++) }).enable();
      try {
        await send();
      } finally {
        hook.disable();
      }
      counts.push(count);
    }
    assert.ok(Math.max(...counts) <= 10, `promises per request: ${counts.join(", ")}`);
  });
});

describe("what the default transport loads", () => {
  test("requests to an http homeserver load neither undici (fetch) nor node:https", async () => {
    local.handler = (_req, res) => res.end('{"ok":true}');
    const script = `
const { HttpClient } = await import(${JSON.stringify(new URL("../../src/api/http.ts", import.meta.url).href)});
const http = new HttpClient({ baseUrl: ${JSON.stringify(base)} });
const result = await http.request({ method: "GET", path: "/x" });
if (!result.ok) throw new Error("no answer");
console.log(JSON.stringify(process.moduleLoadList.filter((m) => /undici|https/.test(m))));`;
    // Asynchronously: the server answering it runs in this process.
    const output = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    assert.deepEqual(JSON.parse(output.trim().split("\n").at(-1)!), []);
  });
});
