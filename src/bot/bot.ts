/**
 * `NioBot`: composes the API client, store, sync engine and feature layers
 * into a bot. It holds no feature logic of its own beyond wiring: each layer
 * lives in its own folder.
 */
import { MatrixApi } from "../api/client.js";
import { discoverHomeserver } from "../api/discovery.js";
import type { ClientEvent, MessageEvent, StrippedStateEvent } from "../api/events.js";
import { isMessageEvent } from "../api/events.js";
import type { FetchLike, RetryOptions } from "../api/http.js";
import type { SyncFilter } from "../api/types.js";
import { buildMessageContent, type MessageOptions } from "../content/message.js";
import type { MessageContent } from "../api/events.js";
import { TypedEmitter, type Listener } from "../events/emitter.js";
import { consoleLogger, redactingLogger, type Logger } from "../logging/logger.js";
import { MemoryStore } from "../storage/memory.js";
import { SqliteStore } from "../storage/sqlite.js";
import type { Store } from "../storage/store.js";
import { SyncEngine } from "../sync/engine.js";
import type { Room } from "../sync/room.js";
import { RoomTracker } from "../sync/tracker.js";
import { autoJoinAllowed, type AutoJoinPolicy } from "./autojoin.js";
import type { CoreBotEvents, ErrorContext } from "./events.js";
import { establishSession, type Credentials, type Session } from "./login.js";
import { installSignalHandlers } from "./signals.js";
import { KeyedMutex } from "../util/async.js";

/** Options of a {@link NioBot}. */
export interface NioBotOptions {
  /** Homeserver base URL (`https://matrix.example.org`) or a server name resolved through `.well-known`. */
  homeserver: string;
  /** The bot's user id, e.g. `@bot:example.org`. */
  userId: string;
  /** Device to log in as (default: the stored one, or a new one). */
  deviceId?: string;
  /** Display name of a new device (default `niobot`). */
  deviceName?: string;
  /** Path of an SQLite store; the bot keeps its login, sync position and room state there. Memory when absent. */
  storePath?: string;
  /** A custom store (overrides `storePath`). */
  store?: Store;
  /** The bot owner's user id, for the `isOwner` check. */
  ownerId?: string;
  /** Logger (pino-compatible); default: readable lines on standard error. */
  logger?: Logger;
  /** Transport; inject to add a proxy, metrics or fault injection. */
  fetch?: FetchLike;
  /** Retry policy of every request. */
  retry?: RetryOptions;
  /** Join rooms the bot is invited to: everyone (default), no one, or an allowlist. */
  autoJoin?: AutoJoinPolicy;
  /** Message type of text the bot sends (default `m.notice`, which other bots ignore). */
  defaultMsgtype?: "m.notice" | "m.text";
  /** Ignore the timeline of the very first sync (default true). */
  ignoreOldEvents?: boolean;
  /** When catching up after downtime, skip events older than this many ms (default: handle all). */
  maxEventAgeMs?: number;
  /** Sync filter (default: lazy-loaded members, no presence/ephemeral). */
  syncFilter?: SyncFilter;
  /** Long-poll timeout (default 30 s). */
  syncTimeoutMs?: number;
  /** Stop cleanly on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
}

/**
 * A Matrix bot.
 *
 * @example
 * const bot = new NioBot({ homeserver: "https://matrix.example.org", userId: "@bot:example.org", storePath: "bot.db" });
 * bot.on("message", async (room, event) => {
 *   if (event.content.body === "!ping") await bot.sendMessage(room.roomId, "pong");
 * });
 * await bot.start({ password: process.env.MATRIX_PASSWORD! });
 */
export class NioBot<E extends CoreBotEvents = CoreBotEvents> {
  /** The options the bot was created with. */
  readonly options: Readonly<NioBotOptions>;
  /** The logger, wrapped so that no line can carry a secret. */
  readonly log: Logger;
  /** The store. */
  readonly store: Store;
  /** Rooms and account data as the bot knows them. */
  readonly rooms: RoomTracker;
  readonly #events: TypedEmitter<E>;
  #api: MatrixApi | undefined;
  #sync: SyncEngine | undefined;
  #session: Session | undefined;
  #removeSignals: (() => void) | undefined;
  #starting: Promise<void> | undefined;
  readonly #sendQueue = new KeyedMutex();

  constructor(options: NioBotOptions) {
    this.options = options;
    this.log = redactingLogger(options.logger ?? consoleLogger());
    this.store = options.store ?? (options.storePath ? new SqliteStore(options.storePath) : new MemoryStore());
    this.rooms = new RoomTracker(options.userId);
    this.#events = new TypedEmitter<E>((error, name, args) => this.reportError(error, contextOf(name, args)));
  }

  /** The client-server API, available once the bot has started. */
  get api(): MatrixApi {
    if (!this.#api) throw new Error("the bot has not been started");
    return this.#api;
  }

  /** The bot's user id. */
  get userId(): string {
    return this.#session?.userId ?? this.options.userId;
  }

  /** The bot's device id, once logged in. */
  get deviceId(): string | undefined {
    return this.#session?.deviceId;
  }

  /** Whether the sync loop is running. */
  get running(): boolean {
    return this.#sync?.running ?? false;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E & string>(name: K, listener: Listener<E, K>): () => void {
    return this.#events.on(name, listener);
  }

  /** Adds a listener that runs once. */
  once<K extends keyof E & string>(name: K, listener: Listener<E, K>): () => void {
    return this.#events.once(name, listener);
  }

  /** Removes a listener. */
  off<K extends keyof E & string>(name: K, listener: Listener<E, K>): void {
    this.#events.off(name, listener);
  }

  /** Emits an event to its listeners and waits for them; errors reach `error`. */
  emit<K extends keyof E & string>(name: K, ...args: E[K]): Promise<void> {
    return this.#events.emit(name, ...args);
  }

  /** Number of listeners of an event. */
  listenerCount(name: keyof E & string): number {
    return this.#events.listenerCount(name);
  }

  /**
   * Waits for the next event `name` that passes `check`.
   *
   * @throws {@link WaitTimeoutError} when `timeoutMs` passes first.
   */
  waitForEvent<K extends keyof E & string>(name: K, check?: (...args: E[K]) => boolean | Promise<boolean>, timeoutMs?: number): Promise<E[K]> {
    return this.#events.waitFor(name, check, timeoutMs);
  }

  /**
   * The single error funnel: handler errors and background failures come here.
   * With `error` listeners they get the error; without, it is logged with its stack.
   */
  reportError(error: unknown, context: ErrorContext): void {
    if (context.source !== "error" && this.#events.listenerCount("error") > 0) {
      void this.#events.emit("error", ...([error, context] as unknown as E["error"]));
      return;
    }
    this.log.error({ error: error instanceof Error ? error : String(error), source: context.source, roomId: context.room?.roomId, eventId: context.event?.event_id }, "unhandled error");
  }

  /**
   * Logs in, loads the store and starts syncing. Resolves after the first sync
   * (the `ready` event). Credentials may be omitted when the store has a login.
   */
  start(credentials: Credentials = {}): Promise<void> {
    this.#starting ??= this.#start(credentials).catch(async (error: unknown) => {
      this.#starting = undefined;
      await this.store.close().catch(() => undefined);
      throw error;
    });
    return this.#starting;
  }

  async #start(credentials: Credentials): Promise<void> {
    const o = this.options;
    await this.store.open();
    const baseUrl = /^https?:\/\//i.test(o.homeserver)
      ? o.homeserver.replace(/\/+$/, "")
      : (await discoverHomeserver(o.homeserver, { fetch: o.fetch })).baseUrl;
    this.#api = new MatrixApi({ baseUrl, fetch: o.fetch, logger: this.log, ...o.retry });
    this.#session = await establishSession(this.#api, this.store, {
      homeserver: baseUrl,
      userId: o.userId,
      deviceId: o.deviceId,
      deviceName: o.deviceName ?? "niobot",
      credentials,
    }, this.log);
    this.rooms.load(await this.store.loadRooms());
    this.#sync = new SyncEngine({
      api: this.#api,
      store: this.store,
      tracker: this.rooms,
      logger: this.log,
      filter: o.syncFilter,
      timeoutMs: o.syncTimeoutMs,
      ignoreOldEvents: o.ignoreOldEvents,
      maxEventAgeMs: o.maxEventAgeMs,
      sink: {
        onEvent: (room, event) => this.#onEvent(room, event),
        onInvite: (room, invite) => this.#onInvite(room, invite),
        onJoin: (room) => this.emit("join", ...([room] as E["join"])),
        onLeave: (room, event) => this.emit("leave", ...([room, event] as E["leave"])),
        onSyncError: (error, attempt) => void this.emit("syncError", ...([error, attempt] as E["syncError"])),
        onFatal: (error) => this.reportError(error, { source: "sync" }),
      },
    });
    if (o.handleSignals ?? true) this.#removeSignals = installSignalHandlers(() => this.stop(), this.log);
    await this.#sync.start();
    this.log.info({ userId: this.userId, deviceId: this.deviceId, rooms: this.rooms.rooms.size }, "bot is ready");
    await this.emit("ready", ...([] as unknown as E["ready"]));
  }

  /** Stops syncing (aborting a long poll at once), saves the sync position and closes the store. */
  async stop(): Promise<void> {
    const starting = this.#starting;
    if (!starting) return;
    this.#starting = undefined;
    await this.#sync?.stop();
    this.#removeSignals?.();
    this.#removeSignals = undefined;
    await this.store.close();
    await this.emit("stopped", ...([] as unknown as E["stopped"]));
  }

  async #onEvent(room: Room, event: ClientEvent): Promise<void> {
    await this.emit("event", ...([room, event] as E["event"]));
    if (isMessageEvent(event)) await this.emit("message", ...([room, event] as E["message"]));
  }

  async #onInvite(room: Room, invite: StrippedStateEvent | undefined): Promise<void> {
    const inviter = invite?.sender;
    await this.emit("invite", ...([room, inviter] as E["invite"]));
    if (!autoJoinAllowed(this.options.autoJoin ?? true, inviter)) {
      this.log.debug({ roomId: room.roomId, inviter }, "not joining: inviter not allowed by autoJoin");
      return;
    }
    try {
      await this.api.rooms.join(room.roomId);
      this.log.info({ roomId: room.roomId, inviter }, "joined room after invite");
    } catch (error) {
      this.reportError(error, { source: "autoJoin", room });
    }
  }

  /** How long ago an event was sent, in milliseconds (by the sender's server clock). */
  latency(event: Pick<ClientEvent, "origin_server_ts">): number {
    return Math.max(0, Date.now() - event.origin_server_ts);
  }

  /** A room the bot knows, or undefined. */
  getRoom(roomId: string): Room | undefined {
    return this.rooms.rooms.get(roomId);
  }

  /**
   * Sends a message to a room. Text is rendered as markdown by default and
   * sent as `m.notice` (configurable). Returns the new event's id.
   *
   * @example
   * await bot.sendMessage(roomId, "**bold** and `code`");
   * await bot.sendMessage(roomId, "plain", { format: "plain", msgtype: "m.text" });
   */
  async sendMessage(roomId: string, content: string | MessageContent, options: MessageOptions = {}): Promise<string> {
    const body = typeof content === "string"
      ? buildMessageContent(content, { msgtype: this.options.defaultMsgtype ?? "m.notice", ...options })
      : content;
    return this.sendEvent(roomId, "m.room.message", body as unknown as Record<string, unknown>);
  }

  /**
   * Sends any room event; the single path every outgoing room event takes.
   * Sends to one room go out one at a time in call order, so a burst arrives
   * in order even while the server rate-limits it.
   */
  async sendEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    return this.#sendQueue.run(roomId, async () => {
      const { event_id } = await this.api.rooms.send(roomId, eventType, content);
      return event_id;
    });
  }
}

function contextOf(name: string, args: readonly unknown[]): ErrorContext {
  const [first, second] = args;
  const room = first && typeof first === "object" && "roomId" in first ? (first as Room) : undefined;
  const event = second && typeof second === "object" && "event_id" in second ? (second as ClientEvent) : undefined;
  return { source: name, room, event };
}

export type { MessageEvent };
