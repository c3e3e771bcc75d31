/**
 * `NioBot`: composes the API client, store, sync engine and feature layers
 * into a bot. It holds no feature logic of its own beyond wiring: each layer
 * lives in its own folder.
 */
import { MatrixApi } from "../api/client.js";
import { discoverHomeserver } from "../api/discovery.js";
import type { ClientEvent, MessageEvent, StrippedStateEvent } from "../api/events.js";
import { isMessageEvent } from "../api/events.js";
import type { EditOptions, MessageOptions } from "../content/message.js";
import type { MessageContent } from "../api/events.js";
import { TypedEmitter, type Listener } from "../events/emitter.js";
import { consoleLogger, redactingLogger, type Logger } from "../logging/logger.js";
import { MemoryStore } from "../storage/memory.js";
import { SqliteStore } from "../storage/sqlite.js";
import type { Store } from "../storage/store.js";
import { KvSpace, type Kv } from "../kv/kv.js";
import { SyncEngine } from "../sync/engine.js";
import { parked } from "../sync/scheduler.js";
import type { Room } from "../sync/room.js";
import { RoomTracker } from "../sync/tracker.js";
import { autoJoinAllowed } from "./autojoin.js";
import type { CoreBotEvents, ErrorContext } from "./events.js";
import type { NioBotOptions } from "./options.js";
import { establishSession, type Credentials, type Session } from "./login.js";
import { installSignalHandlers } from "./signals.js";
import { AccountApi, Messenger, RoomsApi, type MarkReadOptions, type ReplyOptions, type Sendable, type TypingOptions } from "../messaging/index.js";
import { KeyedMutex } from "../util/async.js";
import { BotCrypto, cryptoOptionsOf, EncryptionRequiredError, type CryptoHost } from "../crypto/index.js";
import { RoomEncryption } from "../crypto/room-encryption.js";
import type { EncryptionContent } from "../api/events.js";
import { CommandRouter } from "../commands/router.js";
import type { ArgsFor, Command, CommandHandler, CommandOptionsFor, NoArgs } from "../commands/command.js";
import { defineCommand } from "../commands/command.js";
import type { ArgumentDeclaration } from "../commands/arguments.js";
import type { CheckLike } from "../commands/checks.js";
import type { MountedModule } from "../commands/module.js";
import type { CommandRegistry } from "../commands/registry.js";
import { waitForMessage, type WaitForMessageOptions } from "../commands/conversation.js";
import { DirectMessages, type CreateDmRoomOptions, type DmRoom } from "../dm/manager.js";
import { replyMessageOptions } from "../messaging/compose.js";
import { Appservice } from "../appservice/appservice.js";
import type { VirtualUser, VirtualUserProfile } from "../appservice/virtual.js";
import type { SyncSink } from "../sync/engine.js";
import { MediaClient, isAttachmentMessage, sendAttachment, type Attachment, type AttachmentMessage, type DownloadedMedia, type EncryptedFile, type SendAttachmentOptions } from "../attachments/index.js";

export type { NioBotOptions } from "./options.js";

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
  /** Sending, edits, reactions, typing, read receipts and the message cache (`src/messaging/`). */
  readonly messaging: Messenger;
  /** Membership, room state, the bot's per-room display name, room account data. */
  readonly roomsApi: RoomsApi;
  /** Global account data, the bot's profile and presence. */
  readonly accountApi: AccountApi;
  readonly #events: TypedEmitter<E>;
  #api: MatrixApi | undefined;
  #sync: SyncEngine | undefined;
  #appservice: Appservice | undefined;
  #session: Session | undefined;
  #removeSignals: (() => void) | undefined;
  #starting: Promise<void> | undefined;
  readonly #sendQueue = new KeyedMutex();
  readonly #commands: CommandRouter;
  #dms: DirectMessages | undefined;
  #crypto: BotCrypto | undefined;
  #media: MediaClient | undefined;
  readonly #roomEncryption = new RoomEncryption(this);

  constructor(options: NioBotOptions) {
    this.options = options;
    this.log = redactingLogger(options.logger ?? consoleLogger());
    this.store = options.store ?? (options.storePath ? new SqliteStore(options.storePath) : new MemoryStore());
    this.rooms = new RoomTracker(options.userId);
    this.#events = new TypedEmitter<E>((error, name, args) => this.reportError(error, contextOf(name, args)));
    this.messaging = new Messenger(this, { defaultMsgtype: options.defaultMsgtype, autoReadReceipts: options.autoReadReceipts, messageCacheSize: options.messageCacheSize });
    this.roomsApi = new RoomsApi(this);
    this.accountApi = new AccountApi(this);
    // Finished commands count as handled for automatic read receipts.
    this.#events.on("commandComplete", (...args: unknown[]) => this.messaging.noteCommandComplete(args));
    this.#commands = new CommandRouter(this as unknown as NioBot, options);
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
    return this.#sync?.running ?? this.#appservice !== undefined;
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
  waitForEvent<K extends keyof E & string>(name: K, check?: (...args: E[K]) => boolean | Promise<boolean>, timeoutMs?: number, signal?: AbortSignal): Promise<E[K]> {
    // Parked: later events of the waiting handler's room must run, or it would wait for itself.
    return parked(this.#events.waitFor(name, check, timeoutMs, signal));
  }

  /**
   * Registers a command; its arguments' parsed types reach the handler. See `src/commands/`.
   *
   * @example
   * bot.command("add", { args: "<a:int> <b:int>", description: "Adds two numbers." }, (ctx, { a, b }) => ctx.respond(`${a + b}`));
   */
  command(name: string, handler: CommandHandler<NoArgs>): Command;
  command<const D extends ArgumentDeclaration | undefined = undefined>(name: string, options: CommandOptionsFor<D>, handler: CommandHandler<ArgsFor<D>>): Command;
  command(name: string, options: CommandOptionsFor<undefined> | CommandHandler<NoArgs>, handler?: CommandHandler<never>): Command {
    const definition = typeof options === "function" ? defineCommand(name, options) : defineCommand(name, options, handler as CommandHandler<NoArgs>);
    return this.#commands.registry.add(definition);
  }

  /** The registered commands (add, remove, look up by name or alias). */
  get commands(): CommandRegistry {
    return this.#commands.registry;
  }

  /** Adds a check run before every command; returns a function that removes it. */
  addCheck(check: CheckLike): () => void {
    return this.#commands.addCheck(check);
  }

  /** Mounts a module (decorated class instance or `defineModule` object): its commands and listeners. */
  mount(module: object): Promise<MountedModule> {
    return this.#commands.modules.mount(module);
  }

  /** Unmounts a module (the mounted object or its name), removing its commands and listeners. */
  unmount(module: object | string): Promise<boolean> {
    return this.#commands.modules.unmount(module);
  }

  /** Imports a module file (dynamic import) and mounts its default export. */
  loadModule(path: string): Promise<MountedModule> {
    return this.#commands.modules.load(path);
  }

  /**
   * The next message matching room/sender/check; rejects with `WaitTimeoutError` after
   * `timeoutMs` (default 5 minutes).
   */
  waitForMessage(options: WaitForMessageOptions = {}): Promise<MessageEvent> {
    return waitForMessage(this as unknown as NioBot, options);
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

  #kv: KvSpace | undefined;

  /**
   * A namespace of bot data: typed JSON values kept in the bot's store (the SQLite file, or
   * memory), usable once the bot has started. See `docs/guides/state.md`.
   *
   * @example
   * await bot.kv<number>("counters").update("pings", (n = 0) => n + 1);
   */
  kv<T>(namespace: string): Kv<T> {
    this.#kv ??= new KvSpace(this.store);
    return this.#kv.namespace<T>(namespace);
  }

  /**
   * Logs in, loads the store and starts syncing. Resolves after the first sync
   * (the `ready` event). Credentials may be omitted when the store has a login.
   */
  start(credentials: Credentials = {}): Promise<void> {
    this.#starting ??= this.#start(credentials).catch(async (error: unknown) => {
      this.#starting = undefined;
      await this.#appservice?.stop().catch(() => undefined);
      this.#appservice = undefined;
      await this.#crypto?.close().catch(() => undefined);
      this.#crypto = undefined;
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
    if (o.appservice) return this.#startAppservice(baseUrl);
    this.#api = new MatrixApi({ baseUrl, fetch: o.fetch, logger: this.log, ...o.retry });
    this.#session = await establishSession(this.#api, this.store, {
      homeserver: baseUrl,
      userId: o.userId,
      deviceId: o.deviceId,
      deviceName: o.deviceName ?? "niobot",
      credentials,
      envFile: o.envFile,
    }, this.log);
    this.rooms.load(await this.store.loadRooms());
    const crypto = cryptoOptionsOf(o);
    if (crypto.enabled)
      ({ crypto: this.#crypto, session: this.#session } = await BotCrypto.open(this.#cryptoHost(), this.#session, credentials, crypto));
    this.#sync = new SyncEngine({
      api: this.#api,
      store: this.store,
      tracker: this.rooms,
      logger: this.log,
      filter: o.syncFilter,
      timeoutMs: o.syncTimeoutMs,
      presence: o.presence,
      ignoreOldEvents: o.ignoreOldEvents,
      maxEventAgeMs: o.maxEventAgeMs,
      maxConcurrentHandlers: o.maxConcurrentHandlers,
      handlerTimeoutMs: o.handlerTimeoutMs,
      sink: this.#sink(),
    });
    if (o.handleSignals ?? true) this.#removeSignals = installSignalHandlers(() => this.stop(), this.log);
    await this.#sync.start();
    this.log.info({ userId: this.userId, deviceId: this.deviceId, rooms: this.rooms.rooms.size }, "bot is ready");
    await this.emit("ready", ...([] as unknown as E["ready"]));
  }

  /** Where the sync engine (or, in appservice mode, the transaction engine) hands events to the bot. */
  #sink(): SyncSink {
    return {
      beforeBatch: (response, initial) => this.#crypto?.beforeBatch(response, initial),
      onEvent: (room, event) => this.#onEvent(room, event),
      onInvite: (room, invite) => this.#onInvite(room, invite),
      onJoin: (room) => this.emit("join", ...([room] as E["join"])),
      onLeave: (room, event) => this.emit("leave", ...([room, event] as E["leave"])),
      onSyncError: (error, attempt) => void this.emit("syncError", ...([error, attempt] as E["syncError"])),
      onFatal: (error) => this.#onFatal(error),
      onError: (error, context) => this.reportError(error, context),
    };
  }

  /** Appservice mode (`src/appservice/`): no login, no sync; the homeserver pushes transactions. */
  async #startAppservice(baseUrl: string): Promise<void> {
    const o = this.options;
    if (o.encryption === true) throw new Error("end-to-end encryption is not available in appservice mode yet (leave the encryption option unset)");
    this.rooms.load(await this.store.loadRooms());
    const appservice = await Appservice.create(this, o.appservice!, {
      baseUrl,
      http: { fetch: o.fetch, logger: this.log, ...o.retry },
      sink: this.#sink(),
      maxConcurrentHandlers: o.maxConcurrentHandlers,
      handlerTimeoutMs: o.handlerTimeoutMs,
      maxEventAgeMs: o.maxEventAgeMs,
    });
    // Handlers may run as soon as it listens: the API must be in place first.
    this.#api = appservice.api;
    this.#appservice = appservice;
    await appservice.start();
    if (o.handleSignals ?? true) this.#removeSignals = installSignalHandlers(() => this.stop(), this.log);
    this.log.info({ userId: this.userId, port: this.#appservice.port, rooms: this.rooms.rooms.size }, "appservice is ready");
    await this.emit("ready", ...([] as unknown as E["ready"]));
  }

  /** The running application service (appservice mode only; see `src/appservice/`). */
  get appservice(): Appservice {
    if (!this.#appservice) throw new Error(this.options.appservice ? "the bot has not been started" : "the bot is not in appservice mode (the appservice option)");
    return this.#appservice;
  }

  /**
   * A user of the appservice's namespace, registered (with `profile`) on first use:
   * send, join and DM as that user. Appservice mode only.
   *
   * @example
   * const alice = await bot.as("@_bridge_alice:example.org", { displayName: "Alice" });
   * await alice.sendMessage(roomId, "hi");
   */
  as(userId: string, profile?: VirtualUserProfile): Promise<VirtualUser> {
    return this.appservice.as(userId, profile);
  }

  /** Stops syncing (aborting a long poll at once), saves the sync position and closes the store. */
  async stop(): Promise<void> {
    const starting = this.#starting;
    if (!starting) return;
    this.#starting = undefined;
    await this.#sync?.stop();
    await this.#appservice?.stop();
    this.#appservice = undefined;
    (this.#api?.http.auth as { close?: () => void } | undefined)?.close?.();
    await this.messaging.close();
    await this.#crypto?.close();
    this.#crypto = undefined;
    this.#removeSignals?.();
    this.#removeSignals = undefined;
    await this.store.close();
    await this.emit("stopped", ...([] as unknown as E["stopped"]));
  }

  /**
   * The sync loop cannot go on (the access token was revoked): report it, then
   * stop the bot completely, so `running` is false, `stopped` fires and the
   * stores are closed cleanly. When the bot owns the process (`handleSignals`),
   * the exit code becomes 1 so a supervisor (`Restart=on-failure`) restarts it.
   */
  #onFatal(error: unknown): void {
    this.reportError(error, { source: "sync" });
    if (this.options.handleSignals ?? true) process.exitCode = 1;
    // After the loop has unwound: stop() waits for the loop itself.
    setImmediate(() => void this.stop().catch((e: unknown) => this.reportError(e, { source: "stop" })));
  }

  async #onEvent(room: Room, event: ClientEvent): Promise<void> {
    if (this.#crypto && event.type === "m.room.encrypted") {
      const decrypted = await this.#crypto.decrypt(room, event);
      if (!decrypted) return;
      event = decrypted;
    }
    const incoming = this.messaging.incoming(room, event);
    try {
      await this.emit("event", ...([room, event] as E["event"]));
      if (isMessageEvent(event)) await this.emit("message", ...([room, event] as E["message"]));
      else if (event.type === "m.room.message") this.log.debug({ roomId: room.roomId, eventId: event.event_id }, "skipping malformed m.room.message");
      const related = incoming.related;
      // `related` pairs each name (edit, reaction, redaction) with its own argument tuple.
      if (related) await this.emit(related.name as "edit", ...([room, ...related.args] as unknown as E["edit"]));
    } finally {
      incoming.done();
    }
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
      await this.dms.handleJoinedInvite(room, invite);
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

  /** Direct messages: resolving, creating and recording DM rooms (see `src/dm/`). */
  get dms(): DirectMessages {
    this.#dms ??= new DirectMessages(this);
    return this.#dms;
  }

  /**
   * Direct rooms recorded in `m.direct`: every user's, or one user's list
   * (recorded is not checked: use {@link NioBot.isDm} for that).
   */
  getDmRooms(): Promise<Record<string, string[]>>;
  getDmRooms(userId: string): Promise<string[]>;
  getDmRooms(userId?: string): Promise<Record<string, string[]> | string[]> {
    return userId === undefined ? this.dms.getDmRooms() : this.dms.getDmRooms(userId);
  }

  /** Creates a new direct room with a user, invites them and records it in `m.direct`. */
  createDmRoom(userId: string, options?: CreateDmRoomOptions): Promise<DmRoom> {
    return this.dms.createDmRoom(userId, options);
  }

  /** Whether a room is a direct room of the bot: recorded in `m.direct` and one-to-one with that user. */
  isDm(roomId: string): Promise<boolean> {
    return this.dms.isDm(roomId);
  }

  /**
   * Sends a message to a room, or to a user id (`@...`) through their direct
   * room (found in `m.direct` and checked, or created). Text is rendered as
   * markdown by default and sent as `m.notice` (configurable). Returns the new event's id.
   *
   * @example
   * await bot.sendMessage(roomId, "**bold** and `code`");
   * await bot.sendMessage(roomId, "plain", { format: "plain", msgtype: "m.text" });
   * await bot.sendMessage("@alice:example.org", "a direct message");
   * await bot.sendMessage(roomId, { file: Attachment.fromPath("plot.png"), caption: "the plot" });
   */
  async sendMessage(target: string, content: string | MessageContent | AttachmentMessage, options: MessageOptions = {}): Promise<string> {
    if (isAttachmentMessage(content)) return this.sendAttachment(target, content.file, { ...options, caption: content.caption });
    const body = this.messaging.compose(content, options);
    const roomId = target.startsWith("@") ? await this.dms.resolve(target) : target;
    return this.sendEvent(roomId, "m.room.message", body as unknown as Record<string, unknown>);
  }

  /** Answers an event: a rich reply (staying in its thread), or in a thread with `{ thread: true }` (see `ReplyOptions`). */
  reply(event: ClientEvent, content: Sendable | AttachmentMessage, options?: ReplyOptions): Promise<string> {
    if (isAttachmentMessage(content)) return this.sendAttachment(event.room_id, content.file, { ...replyMessageOptions(event, options ?? {}), caption: content.caption });
    return this.messaging.reply(event, content, options);
  }

  /** Posts into the thread rooted at `rootId`, with the reply fallback for unthreaded clients. */
  sendThreadMessage(roomId: string, rootId: string, content: Sendable, options?: Omit<MessageOptions, "thread">): Promise<string> {
    return this.messaging.sendThreadMessage(roomId, rootId, content, options);
  }

  /** Edits one of the bot's own messages; throws `EditRefusedError` for anyone else's. */
  edit(roomId: string, eventId: string, text: string, options?: EditOptions): Promise<string> {
    return this.messaging.edit(roomId, eventId, text, options);
  }

  /** Redacts an event, with an optional reason. */
  redact(roomId: string, eventId: string, reason?: string): Promise<string> {
    return this.messaging.redact(roomId, eventId, reason);
  }

  /** Reacts to an event (an `m.annotation` with `key`, usually an emoji). */
  react(roomId: string, eventId: string, key: string): Promise<string> {
    return this.messaging.react(roomId, eventId, key);
  }

  /** Removes the bot's reaction `key` from an event; false if it had none. */
  removeReaction(roomId: string, eventId: string, key: string, reason?: string): Promise<boolean> {
    return this.messaging.removeReaction(roomId, eventId, key, reason);
  }

  /**
   * Shows the bot as typing while `work` runs; safe to overlap in one room.
   *
   * @example
   * const answer = await bot.typing(room.roomId, () => slowLookup(query));
   */
  typing<T>(roomId: string, work: () => T | Promise<T>, options?: TypingOptions): Promise<T> {
    return this.messaging.typing(roomId, work, options);
  }

  /** Sends a read receipt now. */
  markRead(roomId: string, eventId: string, options?: MarkReadOptions): Promise<void> {
    return this.messaging.markRead(roomId, eventId, options);
  }

  /**
   * An event from the message cache, else from the server (`GET /rooms/{roomId}/event/{eventId}`);
   * an encrypted one is decrypted when the bot has (or its key backup has) the key.
   */
  async fetchMessage(roomId: string, eventId: string): Promise<ClientEvent> {
    const event = await this.messaging.fetchMessage(roomId, eventId);
    if (event.type !== "m.room.encrypted" || !this.#crypto) return event;
    return (await this.#crypto.decryptFetched(roomId, event)) ?? event;
  }

  /**
   * Uploads and sends a file, image, video or audio clip (to a room, or a user's DM);
   * encrypted when the room is (`src/attachments/`). Returns the event id.
   *
   * @example
   * await bot.sendAttachment(roomId, Attachment.fromPath("./cat.jpg"), { caption: "a **cat**" });
   */
  async sendAttachment(target: string, attachment: Attachment, options: SendAttachmentOptions = {}): Promise<string> {
    const roomId = target.startsWith("@") ? await this.dms.resolve(target) : target;
    return sendAttachment(this, roomId, attachment, options);
  }

  /**
   * Downloads media by `mxc://` URI (authenticated media, legacy fallback), or an
   * `EncryptedFile` (hash verified, decrypted).
   *
   * @example
   * const { bytes, contentType, filename } = await bot.download(event.content.file ?? event.content.url);
   */
  download(source: string | EncryptedFile, options: { signal?: AbortSignal } = {}): Promise<DownloadedMedia> {
    return this.media.download(source, options);
  }

  /** Uploads, downloads and the server's upload limit (`src/attachments/`), once started. */
  get media(): MediaClient {
    if (this.#media?.api !== this.api) this.#media = new MediaClient(this.api);
    return this.#media;
  }

  /**
   * Sends any room event; the single path every outgoing room event takes.
   * Sends to one room go out one at a time in call order, so a burst arrives
   * in order even while the server rate-limits it.
   */
  async sendEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    return this.#sendQueue.run(roomId, async () => {
      const sent = this.messaging.beforeSend(roomId);
      const [type, body] = await this.#encryptIfNeeded(roomId, eventType, content);
      const { event_id } = await this.api.rooms.send(roomId, type, body);
      sent(eventType, content, event_id);
      return event_id;
    });
  }

  /** Whether end-to-end encryption is on (from the `encryption` option; see `src/crypto/`). */
  get encryptionEnabled(): boolean {
    return cryptoOptionsOf(this.options).enabled && !this.options.appservice;
  }

  /**
   * End-to-end encryption of the running bot: room key export/import,
   * identity keys, the wasm machine. Throws when encryption is off or the
   * bot has not started.
   *
   * @example
   * const backup = await bot.crypto.exportRoomKeys("a long passphrase");
   */
  get crypto(): BotCrypto {
    if (!this.#crypto) throw new Error(this.encryptionEnabled ? "the bot has not been started" : "end-to-end encryption is off (the encryption option)");
    return this.#crypto;
  }

  #cryptoHost(): CryptoHost {
    return {
      api: this.api,
      store: this.store,
      rooms: this.rooms,
      log: this.log,
      dispatch: (room, event) => this.#onEvent(room, event),
      decryptionFailed: (room, event, failure) => this.emit("decryptionFailure", ...([room, event, failure] as unknown as E["decryptionFailure"])),
      reportError: (error, context) => this.reportError(error, context),
      identityChanged: (change) => void this.emit("identityChanged", ...([change] as unknown as E["identityChanged"])),
    };
  }

  /**
   * A room's encryption settings, or undefined when it is definitely not
   * encrypted: synced state, rooms the bot created encrypted, else one state
   * lookup. Every outgoing path (messages, attachments) decides with this.
   *
   * @throws `EncryptionStateUnknownError` when it cannot tell (the bot then sends nothing).
   */
  roomEncryption(roomId: string, options: { signal?: AbortSignal } = {}): Promise<EncryptionContent | undefined> {
    return this.#roomEncryption.settingsOf(roomId, options);
  }

  /** Records that a room is encrypted before sync shows it (the bot created it so); persisted at once. */
  markRoomEncrypted(roomId: string, content?: EncryptionContent): Promise<void> {
    return this.#roomEncryption.markEncrypted(roomId, content);
  }

  /** Encrypted rooms get `m.room.encrypted`; without crypto, or in doubt, the bot refuses rather than leak plaintext. */
  async #encryptIfNeeded(roomId: string, eventType: string, content: Record<string, unknown>): Promise<[string, Record<string, unknown>]> {
    if (eventType === "m.room.encrypted") return [eventType, content];
    const encryption = await this.#roomEncryption.settingsOf(roomId);
    if (!encryption) return [eventType, content];
    if (!this.#crypto) throw new EncryptionRequiredError(roomId);
    return ["m.room.encrypted", await this.#crypto.encrypt({ roomId, encryption }, eventType, content)];
  }
}

function contextOf(name: string, args: readonly unknown[]): ErrorContext {
  const [first, second] = args;
  const room = first && typeof first === "object" && "roomId" in first ? (first as Room) : undefined;
  const event = second && typeof second === "object" && "event_id" in second ? (second as ClientEvent) : undefined;
  return { source: name, room, event };
}

export type { MessageEvent };
