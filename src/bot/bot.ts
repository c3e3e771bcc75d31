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
import { storeFromOptions } from "../storage/select.js";
import type { Store } from "../storage/store.js";
import { KvSpace, type Kv } from "../kv/kv.js";
import { DEFAULT_SYNC_FILTER, SyncEngine } from "../sync/engine.js";
import { HandoffSource } from "../sync/handoff.js";
import { SlidingSyncSource } from "../sync/sliding.js";
import { LongPollSource } from "../sync/source.js";
import { parked } from "../sync/scheduler.js";
import type { Room } from "../sync/room.js";
import { RoomTracker } from "../sync/tracker.js";
import { autoJoinAllowed } from "./autojoin.js";
import type { CoreBotEvents, ErrorContext } from "./events.js";
import type { NioBotOptions } from "./options.js";
import { establishSession, type Credentials, type Session } from "./login.js";
import { installSignalHandlers } from "./signals.js";
import { ReplicaGate, type BotHealth } from "../replicas/gate.js";
import { AccountApi, Messenger, RoomsApi, type MarkReadOptions, type ReplyOptions, type Sendable, type TypingOptions } from "../messaging/index.js";
import type { IncomingEvent } from "../messaging/messenger.js";
import type { RelationEmit } from "../messaging/relations.js";
import { Outbox } from "../outbox/outbox.js";
import { cryptoOptionsOf, isVerificationEvent, loadCryptoWasm, type BotCrypto, type CryptoHost } from "../crypto/index.js";
import { RoomEncryption } from "../crypto/room-encryption.js";
import { SetUpTrigger } from "../crypto/set-up-trigger.js";
import { CryptoStartQueue } from "../crypto/start-queue.js";
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
import { MediaClient, isAttachmentMessage, sendAttachment, type Attachment, type AttachmentMessage, type SendAttachmentOptions } from "../attachments/index.js";

export type { NioBotOptions } from "./options.js";

/** Failed `/sync` requests in a row after which `health()` reports the bot unhealthy: one is a blip, three an outage. */
const UNHEALTHY_SYNC_FAILURES = 3;

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
export class NioBot {
  /** The options the bot was created with. */
  readonly options: Readonly<NioBotOptions>;
  /** The logger, wrapped so that no line can carry a secret. */
  readonly log: Logger;
  /** The store. */
  readonly store: Store;
  /** Rooms and account data as the bot knows them. */
  readonly rooms: RoomTracker;
  /**
   * @internal The messaging layer behind `sendMessage`, `reply`, `edit`, `redact`, `react`,
   * `typing`, `markRead` and `fetchMessage` (`src/messaging/`): use those.
   */
  readonly messaging: Messenger;
  /** Membership, room state, the bot's per-room display name, room account data. */
  readonly roomsApi: RoomsApi;
  /** Global account data, the bot's profile and presence. */
  readonly accountApi: AccountApi;
  readonly #events: TypedEmitter<CoreBotEvents>;
  #api: MatrixApi | undefined;
  #sync: SyncEngine | undefined;
  #appservice: Appservice | undefined;
  #session: Session | undefined;
  #removeSignals: (() => void) | undefined;
  #starting: Promise<void> | undefined;
  /** The one outgoing path (`src/outbox/`): per-room queue, encryption, transaction ids, sent hooks. */
  readonly #outbox: Outbox;
  readonly #commands: CommandRouter;
  #dms: DirectMessages | undefined;
  #crypto: BotCrypto | undefined;
  /** The machine while it opens: the first batches are dispatched beside it (`src/crypto/start-queue.ts`). */
  #cryptoStart: CryptoStartQueue | undefined;
  #media: MediaClient | undefined;
  readonly #roomEncryption = new RoomEncryption(this);
  #replicas: ReplicaGate | undefined;
  #standby: AbortController | undefined;

  constructor(options: NioBotOptions) {
    this.options = options;
    this.log = redactingLogger(options.logger ?? consoleLogger());
    this.store = options.store ?? storeFromOptions(options);
    this.rooms = new RoomTracker(options.userId);
    this.#events = new TypedEmitter<CoreBotEvents>((error, name, args) => this.reportError(error, contextOf(name, args)));
    this.#outbox = new Outbox({ api: () => this.api, roomEncryption: (roomId) => this.#roomEncryption.settingsOf(roomId), roomEncryptionNow: (roomId) => this.#roomEncryption.settingsNow(roomId), encrypter: () => this.#crypto ?? this.#cryptoStart?.encrypter });
    this.messaging = new Messenger(this, this.#outbox, { defaultMsgtype: options.defaultMsgtype, autoReadReceipts: options.autoReadReceipts, messageCacheSize: options.messageCacheSize });
    this.roomsApi = new RoomsApi(this);
    this.accountApi = new AccountApi(this);
    this.#commands = new CommandRouter(this, options);
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
  on<K extends keyof CoreBotEvents>(name: K, listener: Listener<CoreBotEvents, K>): () => void {
    return this.#events.on(name, listener);
  }

  /** Adds a listener that runs once. */
  once<K extends keyof CoreBotEvents>(name: K, listener: Listener<CoreBotEvents, K>): () => void {
    return this.#events.once(name, listener);
  }

  /** Removes a listener. */
  off<K extends keyof CoreBotEvents>(name: K, listener: Listener<CoreBotEvents, K>): void {
    this.#events.off(name, listener);
  }

  /** Emits an event to its listeners and waits for them; errors reach `error`. */
  emit<K extends keyof CoreBotEvents>(name: K, ...args: CoreBotEvents[K]): Promise<void> {
    return this.#events.emit(name, ...args);
  }

  /** Number of listeners of an event. */
  listenerCount(name: keyof CoreBotEvents): number {
    return this.#events.listenerCount(name);
  }

  /**
   * Waits for the next event `name` that passes `check`.
   *
   * @throws {@link WaitTimeoutError} when `timeoutMs` passes first.
   */
  waitForEvent<K extends keyof CoreBotEvents>(name: K, check?: (...args: CoreBotEvents[K]) => boolean | Promise<boolean>, timeoutMs?: number, signal?: AbortSignal): Promise<CoreBotEvents[K]> {
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
    return waitForMessage(this, options);
  }

  /**
   * The single error funnel: handler errors and background failures come here.
   * With `error` listeners they get the error; without, it is logged with its stack.
   */
  reportError(error: unknown, context: ErrorContext): void {
    if (context.source !== "error" && this.#events.listenerCount("error") > 0) {
      void this.#events.emit("error", error, context);
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
      await this.#cryptoStart?.close().catch(() => undefined);
      await this.#crypto?.close().catch(() => undefined);
      this.#crypto = this.#cryptoStart = undefined;
      await this.store.close().catch(() => undefined);
      throw error;
    });
    return this.#starting;
  }

  async #start(credentials: Credentials): Promise<void> {
    const o = this.options;
    const crypto = cryptoOptionsOf(o);
    // Loaded only when encryption is on (the wasm library, fake-indexeddb, SQLite); the wasm compile
    // starts first and is not awaited (see BotCrypto.begin). With a password the crypto store opens
    // beside the login. With an access token nothing before the first answers needs it (see openNow).
    const loadCrypto = (): Promise<typeof import("../crypto/crypto.js")> => (void loadCryptoWasm(), import("../crypto/crypto.js"));
    // With an access token the machine opens once the first answers are out (the set-up trigger), or
    // as soon as something waits for it (an event of a room that may be encrypted, an encrypted send):
    // opening it takes the main thread for a while, which a first reply in a plaintext room does not need.
    let openNow: (() => void) | undefined;
    const setUp = crypto.enabled ? new SetUpTrigger() : undefined;
    const withPassword = "password" in credentials && !!credentials.password;
    const cryptoModule = !crypto.enabled ? undefined : withPassword ? loadCrypto() : new Promise<void>((resolve) => (openNow = resolve)).then(loadCrypto);
    if (openNow) void setUp?.fired.then(openNow);
    cryptoModule?.catch(() => undefined);
    await this.store.open();
    if (o.replicas) await this.#enterReplicas();
    const baseUrl = /^https?:\/\//i.test(o.homeserver)
      ? o.homeserver.replace(/\/+$/, "")
      : (await discoverHomeserver(o.homeserver, { fetch: o.fetch })).baseUrl;
    if (o.appservice) return this.#startAppservice(baseUrl);
    // With replicas, every request first checks the lease: a replica that lost it sends nothing.
    this.#api = new MatrixApi({ baseUrl, fetch: this.#replicas?.guard(o.fetch) ?? o.fetch, logger: this.log, ...o.retry });
    // Loaded before the crypto store opens below: from there to the start queue (which closes it) only
    // the login may fail, and then the store's opening releases it.
    this.rooms.load(await this.store.loadRooms());
    const establishing = establishSession(this.#api, this.store, {
      homeserver: baseUrl,
      userId: o.userId,
      deviceId: o.deviceId,
      deviceName: o.deviceName ?? "niobot",
      credentials,
      envFile: o.envFile,
      // Nothing before the first batch needs the device (the crypto machine takes its batches later):
      // whoami runs beside the first sync.
      checkBeside: true,
    }, this.log);
    // The crypto store opens beside the login; settling the device inside waits for the login (and its check).
    const session = establishing.then((e) => e.checked ?? e);
    session.catch(() => undefined);
    const begun = cryptoModule?.then((m) => m.BotCrypto.begin(this.#cryptoHost(), session, credentials, crypto));
    begun?.catch(() => undefined);
    // A failed login fails the start once the store is released again.
    const established = await establishing.catch(async (error: unknown) => {
      openNow?.();
      await begun?.catch(() => undefined);
      throw error;
    });
    // The first batch (and `ready`) waits for the check; a failed check fails the start.
    const sessionChecked = established.checked?.then((session) => void (this.#session = session));
    sessionChecked?.catch(() => undefined);
    if (sessionChecked === undefined) this.#session = established;
    let cryptoReady: Promise<void> | undefined = sessionChecked;
    if (begun) {
      // Only a password lets the store's check replace the device (and so the session the sync uses);
      // without one the first /sync goes out now, beside the store opening and the device check.
      if (withPassword) await begun;
      // The machine and its keys are set up after the first answers (or once something waits for it);
      // the batches that come before it is ready are dispatched meanwhile, their tokens held until it has them (the start queue). The
      // identity and the key backup come after the first answers (the trigger), and start() waits for them.
      const opening = begun.then((o) => ((this.#session = o.session), o.finish({ afterFirstBatch: true, setUpAfter: setUp?.fired })));
      this.#cryptoStart = new CryptoStartQueue(opening, (roomId) => this.#roomEncryption.settingsOf(roomId), setUp, openNow);
      cryptoReady = this.#cryptoStart.ready.then((c) => void (this.#crypto = c));
      cryptoReady.catch(() => undefined);
    }
    this.#sync = new SyncEngine({
      api: this.#api,
      store: this.store,
      tracker: this.rooms,
      logger: this.log,
      filter: o.syncFilter,
      source: o.syncMode === "sliding" ? this.#slidingSource(crypto.enabled, o) : undefined,
      timeoutMs: o.syncTimeoutMs,
      presence: o.presence,
      ignoreOldEvents: o.ignoreOldEvents,
      maxEventAgeMs: o.maxEventAgeMs,
      maxConcurrentHandlers: o.maxConcurrentHandlers,
      handlerTimeoutMs: o.handlerTimeoutMs,
      sink: this.#sink(sessionChecked),
    });
    if (o.handleSignals ?? true) this.#removeSignals = installSignalHandlers(() => this.stop(), this.log);
    try {
      const syncing = this.#sync.start().catch(async (error: unknown) => {
        // A sync refused before the session check settled (a rejected token): the check's own error says more.
        await sessionChecked;
        throw error;
      });
      await Promise.all([cryptoReady?.then(() => this.#crypto?.settled), syncing]);
    } catch (error) {
      this.#cryptoStart?.abandon();
      await this.#sync.stop();
      // Still setting up: wait, so that what it opened is there for start() to close.
      await cryptoReady?.catch(() => undefined);
      throw error;
    }
    this.log.info({ userId: this.userId, deviceId: this.deviceId, rooms: this.rooms.rooms.size }, "bot is ready");
    await this.emit("ready");
  }

  /** Simplified sliding sync, handing off to incremental `/sync`, as the engine's source (`syncMode: "sliding"`). */
  #slidingSource(encryption: boolean, o: NioBotOptions): HandoffSource {
    this.rooms.partial = true;
    const knownJoined = (roomId: string): boolean => this.rooms.rooms.get(roomId)?.membership === "join";
    const { handoff, ...tuning } = o.slidingSync ?? {};
    const sliding = new SlidingSyncSource({ api: this.api, userId: this.userId, encryption, extraStateTypes: () => this.rooms.extraStateTypes, knownJoined, logger: this.log, ...tuning });
    const longPoll = new LongPollSource({ api: this.api, filter: JSON.stringify(o.syncFilter ?? DEFAULT_SYNC_FILTER), presence: o.presence });
    return new HandoffSource({ api: this.api, userId: this.userId, sliding, longPoll, encryption, knownJoined, extraStateTypes: () => this.rooms.extraStateTypes, presence: o.presence, handoff, logger: this.log });
  }

  /** Where the sync engine (or, in appservice mode, the transaction engine) hands events to the bot. */
  #sink(sessionChecked?: Promise<void>): SyncSink {
    // Once the session check has settled, a batch runs the crypto hook directly, and a bot
    // without crypto runs no hook at all (an async one is promises and a turn of the loop each time).
    let checked = sessionChecked === undefined;
    sessionChecked?.then(() => (checked = true), () => undefined);
    return {
      beforeBatch: (response, initial) => {
        if (checked) return this.#cryptoStart?.beforeBatch(response, initial);
        return (async () => {
          await sessionChecked;
          return this.#cryptoStart?.beforeBatch(response, initial);
        })();
      },
      beforePoll: () => this.#cryptoStart?.beforePoll(),
      onEvent: (room, event) => this.#onEvent(room, event),
      onInvite: (room, invite) => this.#onInvite(room, invite),
      onJoin: (room) => this.emit("join", room),
      onLeave: (room, event) => this.emit("leave", room, event),
      onSyncError: (error, attempt) => void this.emit("syncError", error, attempt),
      // While the token is still being checked, a failed check is what ends the start, not this.
      onFatal: (error) => (sessionChecked ? void sessionChecked.then(() => this.#onFatal(error), () => undefined) : this.#onFatal(error)),
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
    await this.emit("ready");
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
    // What waits for a machine still opening fails now, not after the handlers' grace period.
    this.#cryptoStart?.abandon();
    await this.#sync?.stop();
    await this.#appservice?.stop();
    this.#appservice = undefined;
    (this.#api?.http.auth as { close?: () => void } | undefined)?.close?.();
    await this.messaging.close();
    await this.#cryptoStart?.close();
    await this.#crypto?.close();
    this.#crypto = this.#cryptoStart = undefined;
    this.#removeSignals?.();
    this.#removeSignals = undefined;
    this.#standby?.abort(new DOMException("the bot is stopping", "AbortError"));
    await this.#replicas?.release();
    await this.store.close();
    await this.emit("stopped");
  }

  /**
   * Readiness for an orchestrator's probe: `active` (syncing, holding the lease if there are
   * replicas), `standby` (waiting for the lease) or `unhealthy` (not started, stopped, lost the lease,
   * or `/sync` has failed three times in a row, each after the HTTP client's own retries).
   *
   * @example
   * http.createServer((_, res) => { const h = bot.health(); res.writeHead(h.ready ? 200 : 503).end(JSON.stringify(h)); }).listen(8080);
   */
  health(): BotHealth {
    const lease = this.#replicas ? { holder: this.#replicas.lease.holder, ...(this.#replicas.lease.held ? { fence: this.#replicas.lease.fence } : {}) } : {};
    const state = this.#replicas?.state;
    if (state === "waiting") return { status: "standby", ready: false, ...lease };
    if (state === "lost") return { status: "unhealthy", ready: false, reason: `lost the lease: ${this.#replicas?.lostReason ?? "expired"}`, ...lease };
    if (!this.running) return { status: "unhealthy", ready: false, reason: this.#starting ? "starting" : "not running", ...lease };
    const failing = this.#sync?.failing;
    if (failing !== undefined && failing.attempts >= UNHEALTHY_SYNC_FAILURES) {
      const since = new Date(failing.since).toISOString();
      return { status: "unhealthy", ready: false, reason: `sync failing since ${since} (${failing.attempts} attempts): ${failing.error}`, ...lease };
    }
    return { status: "active", ready: true, ...lease };
  }

  /** Waits (a warm standby) until this replica holds the lease; losing it later stops the bot. */
  async #enterReplicas(): Promise<void> {
    const options = this.options.replicas === true ? {} : this.options.replicas || {};
    const gate = (this.#replicas = new ReplicaGate(this.store, this.log, options));
    this.#standby = new AbortController();
    const taken = await gate.enter(this.log, this.#standby.signal);
    gate.lease.onLost((reason) => {
      void this.emit("leadershipLost", reason);
      if (this.options.handleSignals ?? true) process.exitCode = 1;
      // Its writes are refused from now on (fenced), so stopping cannot save anything; the store is closed regardless.
      setImmediate(() => void this.stop().catch((e: unknown) => this.reportError(e, { source: "stop" })).finally(() => this.store.close()));
    });
    await this.emit("leadershipAcquired", { holder: gate.lease.holder, ...taken });
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

  #onEvent(room: Room, event: ClientEvent): Promise<void> | undefined {
    const crypto = this.#crypto;
    const waits = crypto === undefined ? this.#cryptoStart !== undefined : event.type === "m.room.encrypted" || isVerificationEvent(event);
    if (waits || this.listenerCount("event") > 0) return this.#onEventAsync(room, event);
    // Nothing to wait for first: an event whose listeners are all synchronous (every message that
    // is not a command, the bot's own echoes) costs no promise.
    const incoming = this.messaging.incoming(room, event);
    let pending: Promise<void> | undefined;
    if (isMessageEvent(event)) pending = this.#events.emitPending("message", room, event);
    else if (event.type === "m.room.message") this.log.debug({ roomId: room.roomId, eventId: event.event_id }, "skipping malformed m.room.message");
    if (pending === undefined && incoming.related === undefined) return void incoming.done();
    return this.#afterMessage(room, incoming, pending);
  }

  async #afterMessage(room: Room, incoming: IncomingEvent, pending: Promise<void> | undefined): Promise<void> {
    try {
      await pending;
      if (incoming.related) await this.#emitRelated(room, incoming.related);
    } finally {
      incoming.done();
    }
  }

  async #onEventAsync(room: Room, event: ClientEvent): Promise<void> {
    // While the machine opens, only events of rooms known to be unencrypted go on without it.
    const crypto = this.#crypto ?? (this.#cryptoStart ? await this.#cryptoStart.machineFor(room, event) : undefined);
    if (crypto && event.type === "m.room.encrypted") {
      const decrypted = await crypto.decrypt(room, event);
      if (!decrypted) return;
      event = decrypted;
    }
    if (crypto && isVerificationEvent(event)) await crypto.receiveVerificationEvent(room.roomId, event);
    const incoming = this.messaging.incoming(room, event);
    try {
      if (this.listenerCount("event") > 0) await this.emit("event", room, event);
      if (isMessageEvent(event)) await this.emit("message", room, event);
      else if (event.type === "m.room.message") this.log.debug({ roomId: room.roomId, eventId: event.event_id }, "skipping malformed m.room.message");
      if (incoming.related) await this.#emitRelated(room, incoming.related);
    } finally {
      incoming.done();
    }
  }

  /** `edit`, `reaction` or `redaction`: each name with its own argument tuple. */
  #emitRelated(room: Room, related: RelationEmit): Promise<void> {
    switch (related.name) {
      case "edit":
        return this.emit("edit", room, ...related.args);
      case "reaction":
        return this.emit("reaction", room, ...related.args);
      case "redaction":
        return this.emit("redaction", room, ...related.args);
    }
  }

  async #onInvite(room: Room, invite: StrippedStateEvent | undefined): Promise<void> {
    const inviter = invite?.sender;
    await this.emit("invite", room, inviter);
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

  /**
   * @internal Direct messages (`src/dm/`) behind `sendMessage` to a user id, `getDmRooms`,
   * `createDmRoom`, `recordDmRoom` and `isDm`: use those.
   */
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

  /** Records a room the bot joined itself as the direct room with `userId` in `m.direct` (read-merge-write). */
  recordDmRoom(userId: string, roomId: string): Promise<void> {
    return this.dms.recordDmRoom(userId, roomId);
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
  async sendMessage(target: string, content: Sendable | MessageContent | AttachmentMessage, options: MessageOptions = {}): Promise<string> {
    if (isAttachmentMessage(content)) return this.sendAttachment(target, content.file, { ...options, caption: content.caption });
    const roomId = target.startsWith("@") ? await this.dms.resolve(target) : target;
    return (await this.messaging.send(roomId, content, options)).eventId;
  }

  /** Answers an event: a rich reply (staying in its thread), or in a thread with `{ thread: true }` (see `ReplyOptions`). */
  async reply(event: ClientEvent, content: Sendable | AttachmentMessage, options?: ReplyOptions): Promise<string> {
    if (isAttachmentMessage(content)) return this.sendAttachment(event.room_id, content.file, { ...replyMessageOptions(event, options ?? {}), caption: content.caption });
    return (await this.messaging.reply(event, content, options)).eventId;
  }

  /** Posts into the thread rooted at `rootId`, with the reply fallback for unthreaded clients. */
  async sendThreadMessage(roomId: string, rootId: string, content: Sendable, options?: Omit<MessageOptions, "thread">): Promise<string> {
    return (await this.messaging.sendThreadMessage(roomId, rootId, content, options)).eventId;
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

  /**
   * Notes that the bot handled an event without answering it: an automatic read receipt
   * follows (see the `autoReadReceipts` option). Finished commands are noted by themselves.
   *
   * @example
   * bot.on("message", (room, event) => {
   *   if (isInteresting(event)) bot.noteHandled(room.roomId, event.event_id);
   * });
   */
  noteHandled(roomId: string, eventId: string): void {
    this.messaging.noteHandled(roomId, eventId);
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
    const crypto = event.type === "m.room.encrypted" ? this.#crypto ?? (await this.#cryptoStart?.need()) : undefined;
    if (!crypto) return event;
    return (await crypto.decryptFetched(roomId, event)) ?? event;
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
   * Media, once started (`src/attachments/`): downloads by `mxc://` URI (authenticated media,
   * legacy fallback) or `EncryptedFile` (hash verified, decrypted), uploads, the upload limit.
   *
   * @example
   * const { bytes, contentType, filename } = await bot.media.download(event.content.file ?? event.content.url);
   */
  get media(): MediaClient {
    if (this.#media?.api !== this.api) this.#media = new MediaClient(this.api);
    return this.#media;
  }

  /**
   * Sends any room event through the outbox, the path every outgoing room event takes: sends
   * to one room go out one at a time in call order (a burst arrives in order even while the
   * server rate-limits it), encrypted when the room is.
   */
  sendEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    return this.#outbox.send(roomId, eventType, content);
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
    if (!this.#crypto)
      throw new Error(!this.encryptionEnabled ? "end-to-end encryption is off (the encryption option)" : this.#cryptoStart ? "end-to-end encryption is still starting (wait for start() or the ready event)" : "the bot has not been started");
    return this.#crypto;
  }

  #cryptoHost(): CryptoHost {
    return {
      api: this.api,
      store: this.store,
      rooms: this.rooms,
      log: this.log,
      dispatch: async (room, event) => this.#onEvent(room, event),
      decryptionFailed: (room, event, failure) => this.emit("decryptionFailure", room, event, failure),
      reportError: (error, context) => this.reportError(error, context),
      identityChanged: (change) => void this.emit("identityChanged", change),
      sendRoomEvent: (roomId, type, content) => this.sendEvent(roomId, type, content),
      directRoom: (userId) => this.dms.resolve(userId),
      verificationRequest: (verification) => this.emit("verificationRequest", verification),
      listensForVerification: () => this.listenerCount("verificationRequest") > 0,
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
}

// The commands layer is typed against its narrow `CommandHost`; bot authors get the whole bot in
// `ctx.bot` and module hooks, and module listeners typed for every bot event.
declare module "../commands/host.js" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- widens the commands layer's view of the bot
  interface CommandBot extends NioBot {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- widens the commands layer's view of the event map
  interface CommandBotEvents extends CoreBotEvents {}
}

/** The room and event of a failed listener, when its arguments start with them (most bot events do). */
function contextOf(name: string, args: readonly unknown[]): ErrorContext {
  const [first, second] = args;
  return { source: name, room: isRoom(first) ? first : undefined, event: isEvent(second) ? second : undefined };
}

function isRoom(value: unknown): value is Room {
  return typeof value === "object" && value !== null && "roomId" in value;
}

function isEvent(value: unknown): value is ClientEvent {
  return typeof value === "object" && value !== null && "event_id" in value;
}

export type { MessageEvent };
