/**
 * An end-to-end encrypting "human" for integration tests: matrix-js-sdk with
 * its Rust crypto (its own copy of the wasm crypto library), so the bot's
 * encryption is checked against an independent, widely used client rather
 * than against itself.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import * as sdk from "matrix-js-sdk";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { MatrixClient, MatrixEvent } from "matrix-js-sdk";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { homeserver, newUser } from "./matrix.js";

(sdkLogger as unknown as { setLevel(level: string): void }).setLevel(process.env.NIOBOT_LOG_LEVEL === "debug" ? "debug" : "silent");

// matrix-js-sdk arms a long timer per request (its request timeout) and a
// 6-hour capabilities refresh, and never clears them in Node: they would keep
// the test process alive for minutes after the last test. Only those timers
// are unref'd; they still fire if the process is alive anyway.
const originalSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = ((handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const timer = originalSetTimeout(handler, ms, ...args);
  if ((ms ?? 0) >= 30_000 && new Error().stack?.includes("matrix-js-sdk")) timer.unref();
  return timer;
}) as typeof setTimeout;

/**
 * matrix-js-sdk turns its crypto library's tracing on at debug level, which
 * floods test output; turn it down to warnings (its own copy of the wasm
 * package, not the one niobot uses).
 */
async function quietSdkCrypto(): Promise<void> {
  if (process.env.NIOBOT_LOG_LEVEL === "debug") return;
  const sdkDir = dirname(createRequire(import.meta.url).resolve("matrix-js-sdk/package.json"));
  const nested = join(sdkDir, "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm", "node.mjs");
  const path = existsSync(nested) ? nested : undefined;
  if (!path) return;
  const wasm = (await import(pathToFileURL(path).href)) as { Tracing: new (level: number) => { turnOn(): void }; LoggerLevel: { Warn: number } };
  new wasm.Tracing(wasm.LoggerLevel.Warn).turnOn();
}

const noop = (): void => undefined;
/** A silent matrix-js-sdk logger (its per-room child loggers ignore the global level). */
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };

/** Content of an encrypted room's `m.room.encryption` state. */
export const MEGOLM = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

/** A person with an encrypting client (matrix-js-sdk, Rust crypto, in-memory store). */
export class EncryptedHuman {
  private constructor(readonly account: RegisteredUser, readonly client: MatrixClient) {}

  /** To-device requests held back by {@link EncryptedHuman.holdToDevice}. */
  readonly #held: { url: string; init: RequestInit }[] = [];
  #holding = false;

  /** Registers an account and starts its client (crypto initialised, first sync done). */
  static async create(prefix = "human"): Promise<EncryptedHuman> {
    const hs = await homeserver();
    const account = await newUser(prefix);
    const box: { self?: EncryptedHuman } = {};
    // Lets a test deliver room keys late: held to-device sends are answered at
    // once (so the client goes on to send the message) and really sent on release.
    const fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = String(input);
      const self = box.self;
      if (self && self.#holding && init?.method === "PUT" && url.includes("/sendToDevice/")) {
        self.#held.push({ url, init });
        return Promise.resolve(new Response("{}", { status: 200, headers: { "content-type": "application/json" } }));
      }
      return fetch(input, init);
    };
    const client = sdk.createClient({ baseUrl: hs.baseUrl, accessToken: account.accessToken, userId: account.userId, deviceId: account.deviceId, fetchFn,
      ...(process.env.NIOBOT_LOG_LEVEL === "debug" ? {} : { logger: quietLogger }) });
    await client.initRustCrypto({ useIndexedDB: false });
    await quietSdkCrypto();
    const human = new EncryptedHuman(account, client);
    box.self = human;
    const ready = new Promise<void>((resolve) => {
      const onSync = (state: string): void => {
        if (state === "PREPARED" || state === "SYNCING") {
          client.off(sdk.ClientEvent.Sync, onSync);
          resolve();
        }
      };
      client.on(sdk.ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 20 });
    await ready;
    return human;
  }

  get userId(): string {
    return this.account.userId;
  }

  /** Creates an encrypted direct room with `userId` (as Element does) and returns its id. */
  async createEncryptedDm(userId: string): Promise<string> {
    const { room_id } = await this.client.createRoom({
      preset: sdk.Preset.TrustedPrivateChat,
      is_direct: true,
      invite: [userId],
      initial_state: [MEGOLM],
    });
    return room_id;
  }

  /** Waits until `userId` has joined the room (as seen by this client's sync). */
  async waitForJoin(roomId: string, userId: string, timeoutMs = 20_000): Promise<void> {
    await this.until(() => this.client.getRoom(roomId)?.getMember(userId)?.membership === "join", timeoutMs, `${userId} to join`);
  }

  /** Sends a text message (encrypted by the client in an encrypted room). */
  async send(roomId: string, body: string): Promise<string> {
    await this.until(() => this.client.getRoom(roomId) !== null, 10_000, "the room to sync");
    const { event_id } = await this.client.sendTextMessage(roomId, body);
    return event_id;
  }

  /** Waits for a decrypted message from `sender` matching `match`; returns it. */
  async waitForMessage(roomId: string, sender: string, match: (body: string) => boolean, timeoutMs = 20_000): Promise<MatrixEvent> {
    let found: MatrixEvent | undefined;
    await this.until(async () => {
      const events = this.client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
      for (const event of events) {
        if (event.getSender() !== sender) continue;
        await this.client.decryptEventIfNeeded(event);
        const body = event.getContent().body;
        if (event.getType() === "m.room.message" && typeof body === "string" && match(body)) {
          found = event;
          return true;
        }
      }
      return false;
    }, timeoutMs, `a message from ${sender}`);
    return found as MatrixEvent;
  }

  /** Raw timeline events of a room, as the server sent them (encrypted ones stay encrypted on the wire). */
  wireEvents(roomId: string, sender: string): { type: string; content: Record<string, unknown> }[] {
    const events = this.client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
    return events.filter((e) => e.getSender() === sender).map((e) => ({ type: e.getWireType(), content: e.getWireContent() }));
  }

  async until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** From now on, to-device messages (room keys) are held back until {@link EncryptedHuman.releaseToDevice}. */
  holdToDevice(): void {
    this.#holding = true;
  }

  /** Sends the held to-device messages for real; returns how many there were. */
  async releaseToDevice(): Promise<number> {
    this.#holding = false;
    const held = this.#held.splice(0);
    for (const { url, init } of held) {
      const response = await fetch(url, init);
      if (!response.ok) throw new Error(`held to-device send failed: ${response.status}`);
    }
    return held.length;
  }

  /** Stops the client. */
  stop(): void {
    this.client.stopClient();
  }
}
