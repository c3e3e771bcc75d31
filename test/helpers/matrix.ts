/**
 * Helpers for integration tests: the shared test homeserver, fresh accounts,
 * a scripted "human" client with its own sync loop, and bots wired for tests.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MatrixApi } from "../../src/api/client.js";
import type { ClientEvent } from "../../src/api/events.js";
import type { FetchLike } from "../../src/api/http.js";
import type { SyncResponse } from "../../src/api/types.js";
import { NioBot, type NioBotOptions } from "../../src/bot/bot.js";
import { connectTestHomeserver, type DevHomeserver, type RegisteredUser } from "../../src/devserver/index.js";
import { consoleLogger } from "../../src/logging/logger.js";

let shared: Promise<DevHomeserver> | undefined;

/** The homeserver of this test run (started once per process when not given by the environment). */
export function homeserver(): Promise<DevHomeserver> {
  shared ??= connectTestHomeserver();
  return shared;
}

/** Stops the homeserver if this process started it. */
export async function stopHomeserver(): Promise<void> {
  const hs = await shared;
  shared = undefined;
  await hs?.stop();
}

/** Registers a new account with a unique localpart. */
export async function newUser(prefix = "user"): Promise<RegisteredUser> {
  const hs = await homeserver();
  const localpart = `${prefix}-${randomBytes(4).toString("hex")}`;
  return hs.registerUser(localpart, `pw-${randomBytes(8).toString("hex")}`);
}

/** An ephemeral room event from sync, with its room. */
export interface EphemeralEvent {
  type: string;
  content: Record<string, unknown>;
  room_id: string;
}

/** A scripted human: an API client plus a sync reader to observe what arrives. */
export class TestUser {
  readonly api: MatrixApi;
  #since: string | undefined;
  readonly #seen: ClientEvent[] = [];
  readonly #invites = new Set<string>();
  readonly #ephemeral: EphemeralEvent[] = [];

  constructor(readonly account: RegisteredUser, baseUrl: string, fetchImpl?: FetchLike) {
    this.api = new MatrixApi({ baseUrl, accessToken: account.accessToken, fetch: fetchImpl });
  }

  get userId(): string {
    return this.account.userId;
  }

  /** Creates a room and invites the given users. */
  async createRoom(invite: string[] = [], extra: Record<string, unknown> = {}): Promise<string> {
    const { room_id } = await this.api.rooms.create({ preset: "private_chat", invite, ...extra });
    return room_id;
  }

  /** Sends a plain text message; returns its event id. */
  async send(roomId: string, body: string, extra: Record<string, unknown> = {}): Promise<string> {
    const { event_id } = await this.api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body, ...extra });
    return event_id;
  }

  /** Runs one sync (catching up from the last one) and records timeline events and invites. */
  async syncOnce(timeoutMs = 0): Promise<SyncResponse> {
    const response = await this.api.sync.sync({ since: this.#since, timeout: timeoutMs });
    this.#since = response.next_batch;
    for (const [roomId, room] of Object.entries(response.rooms?.join ?? {}))
      for (const event of room.timeline?.events ?? []) this.#seen.push({ ...event, room_id: roomId });
    for (const roomId of Object.keys(response.rooms?.invite ?? {})) this.#invites.add(roomId);
    for (const [roomId, room] of Object.entries(response.rooms?.join ?? {}))
      for (const event of room.ephemeral?.events ?? []) this.#ephemeral.push({ ...event, room_id: roomId });
    return response;
  }

  /** Every timeline event seen so far. */
  get seen(): readonly ClientEvent[] {
    return this.#seen;
  }

  /** Every ephemeral event (`m.typing`, `m.receipt`) seen so far, in arrival order. */
  get ephemeral(): readonly EphemeralEvent[] {
    return this.#ephemeral;
  }

  /** Waits until a seen ephemeral event matches, syncing as needed. */
  async waitForEphemeral(match: (e: EphemeralEvent) => boolean, timeoutMs = 20_000): Promise<EphemeralEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.#ephemeral.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for an ephemeral event; saw ${JSON.stringify(this.#ephemeral)}`);
      await this.syncOnce(Math.min(left, 5_000));
    }
  }

  /** Waits until a seen event matches, syncing as needed. */
  async waitForEvent(match: (e: ClientEvent) => boolean, timeoutMs = 20_000): Promise<ClientEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.#seen.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for an event; saw ${this.#seen.length} events`);
      await this.syncOnce(Math.min(left, 5_000));
    }
  }

  /** Waits for an invite to a room (any room when `roomId` is undefined); returns the room id. */
  async waitForInvite(roomId?: string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const id of this.#invites) if (roomId === undefined || id === roomId) return id;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for an invite");
      await this.syncOnce(Math.min(left, 5_000));
    }
  }
}

/** Registers a human test account. */
export async function newTestUser(prefix = "human", fetchImpl?: FetchLike): Promise<TestUser> {
  const hs = await homeserver();
  return new TestUser(await newUser(prefix), hs.baseUrl, fetchImpl);
}

/** Creates (not starts) a bot for a fresh account, quiet unless NIOBOT_LOG_LEVEL says otherwise. */
export async function newBot(
  options: Partial<NioBotOptions> = {},
  account?: RegisteredUser,
): Promise<{ bot: NioBot; account: RegisteredUser }> {
  const hs = await homeserver();
  const acc = account ?? (await newUser("bot"));
  const bot = new NioBot({
    homeserver: hs.baseUrl,
    userId: acc.userId,
    handleSignals: false,
    logger: consoleLogger(process.env.NIOBOT_LOG_LEVEL === undefined ? "silent" : (process.env.NIOBOT_LOG_LEVEL as "debug")),
    // A fresh account gets a cross-signing identity at start; its recovery key is not wanted in test output.
    showRecoveryKey: () => undefined,
    ...options,
  });
  return { bot, account: acc };
}

/** A fetch wrapper that counts requests by `METHOD path-template-ish`, for cost assertions. */
export function countingFetch(): { fetch: FetchLike; counts: Map<string, number>; total: () => number; reset: () => void } {
  const counts = new Map<string, number>();
  const wrapped: FetchLike = (input, init) => {
    const url = new URL(input);
    // Ids are percent-encoded in paths; decode each segment so every room, event and user id collapses to "*".
    const path = url.pathname.split("/").map((segment) => decodeURIComponent(segment)).join("/");
    const key = `${init.method ?? "GET"} ${path.replace(/\/(![^/]+|\$[^/]+|@[^/]+|nb[0-9a-z]+)(?=\/|$)/g, "/*")}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return fetch(input, init);
  };
  return {
    fetch: wrapped,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
  };
}

const tempDirs: string[] = [];
process.on("exit", () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A store path in a fresh temporary directory, removed when the test process exits. */
export function tempStorePath(name = "bot.db"): string {
  const dir = mkdtempSync(join(tmpdir(), "niobot-test-"));
  tempDirs.push(dir);
  return join(dir, name);
}
