/**
 * A TCP proxy in front of the real homeserver, for faults that the default transport (niobot's
 * own `node:http` client, not an injected fetch) must see on its sockets: connections reset in
 * the middle of a long poll, or right as the homeserver's answer to a chosen request starts
 * (the server acted, the client never hears it). It forwards bytes unchanged and answers nothing
 * itself; it counts connections, so tests can assert keep-alive reuse.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/** One proxied connection: the bot's side and the homeserver's. */
export interface ProxiedConnection {
  client: Socket;
  upstream: Socket;
  /** Request lines seen from the client, in order (`PUT /_matrix/...`). */
  requests: string[];
  /** Response bytes forwarded to the client. */
  responseBytes: number;
  closed: boolean;
}

/** A running proxy. */
export interface TcpProxy {
  /** The base URL to give the bot instead of the homeserver's. */
  baseUrl: string;
  /** Every connection accepted so far, open or closed. */
  connections: ProxiedConnection[];
  /**
   * Resets the next connection whose latest request line matches `pattern` as soon as the
   * homeserver's answer to it starts: nothing of the answer reaches the client.
   */
  resetOnAnswer(pattern: RegExp, times?: number): void;
  /** Resets every open connection now (both sides, RST). */
  resetAll(): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)((?:GET|PUT|POST|DELETE) \S+) HTTP\/1\.1\r\n/g;

/** Starts a proxy on a free local port forwarding to `target` (`http://host:port`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const connections: ProxiedConnection[] = [];
  const resets: { pattern: RegExp; times: number }[] = [];
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: hostname, port: Number(port) });
    const conn: ProxiedConnection = { client, upstream, requests: [], responseBytes: 0, closed: false };
    connections.push(conn);
    let resetPending = false;
    client.on("data", (chunk: Buffer) => {
      for (const match of chunk.toString("latin1").matchAll(REQUEST_LINE)) {
        conn.requests.push(match[1]!);
        const rule = resets.find((r) => r.times > 0 && r.pattern.test(match[1]!));
        if (rule) {
          rule.times--;
          resetPending = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (resetPending) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      conn.responseBytes += chunk.length;
      client.write(chunk);
    });
    const end = (): void => {
      conn.closed = true;
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections,
    resetOnAnswer: (pattern, times = 1) => void resets.push({ pattern, times }),
    resetAll: () => {
      for (const c of connections) {
        if (c.closed) continue;
        c.client.resetAndDestroy();
        c.upstream.destroy();
      }
    },
    close: async () => {
      for (const c of connections) {
        c.client.destroy();
        c.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
