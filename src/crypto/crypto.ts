/**
 * `BotCrypto`: transparent end-to-end encryption for a bot, on the wasm
 * build of matrix-sdk-crypto (installs anywhere, no native binary). The sync
 * engine feeds it each batch first; the bot decrypts timeline events with it
 * before dispatch and encrypts through it before sending into encrypted rooms.
 *
 * Persistence: see `store.ts` (snapshot file + lock). A snapshot is saved
 * before a batch's sync token can be committed, so a to-device message (a
 * room key, an Olm session) is never acknowledged to the server and then lost.
 * Snapshots after encrypting are not awaited before the send; instead a store
 * that was not closed cleanly rotates every outbound room key on the next
 * start, so a stale snapshot can never reuse a megolm message index.
 *
 * Undecryptable events and the sync engine's "handled" bookkeeping: for an
 * encrypted event, "handled" means "taken over by the crypto layer". An
 * event that decrypts is dispatched at once; one whose key may still come
 * (missing session, unknown index) is parked in a bounded queue persisted in
 * the bot's store (one record per event; 500 events, 16 KiB each, quotas per
 * sender and per room, 7 days; see `pending.ts`) *before*
 * the engine marks it handled, and is reported as `decryptionFailure`. When
 * a key for its session arrives (to-device `m.room_key`/`m.forwarded_room_key`,
 * or an import), it is decrypted and dispatched through the same path as a
 * live event, then removed from the queue; so a restart neither loses nor
 * replays it (a crash in the middle of its handler runs it again, as for
 * any event). Final failures (withheld keys, untrusted senders, garbage) are
 * reported once and dropped.
 *
 * @module
 */
import {
  DeviceId,
  DeviceLists,
  EncryptionSettings,
  OlmMachine,
  RoomId,
  UserId,
  type RoomKeyInfo,
  type RoomKeyWithheldInfo,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { ClientEvent } from "../api/events.js";
import type { SyncResponse } from "../api/types.js";
import type { Credentials, Session } from "../core/session.js";
import { registerSecret } from "../logging/redact.js";
import type { Room } from "../sync/room.js";
import { KeyedMutex } from "../util/async.js";
import { bootstrapCrossSigning, resolveDevice } from "./device.js";
import { KeyBackup } from "./backup.js";
import { establishIdentity, type IdentityOptions, type IdentityReport } from "./identity.js";
import { decryptionSettings, sharingStrategy, watchIdentities, type TrustMode } from "./trust.js";
import { classifyDecryptionError } from "./classify.js";
import type { DecryptionFailure } from "./errors.js";
import { decryptedEvent } from "./decrypted.js";
import { loadCryptoWasm } from "./wasm.js";
import type { CryptoHost } from "./events.js";
import { EncryptedRoomMembers } from "./members.js";
import { PendingDecryptions, sessionOf } from "./pending.js";
import { RequestPump } from "./requests.js";
import { CryptoStoreFile } from "./store.js";
import type { Verification } from "./verification.js";
import { Verifications, verificationSenders } from "./verifications.js";

/** Options of {@link BotCrypto.open}. */
export interface CryptoOpenOptions {
  /** Snapshot file of the crypto store; undefined keeps keys in memory only (lost at exit). */
  storePath?: string;
  /** Encrypts the values inside the crypto store with this passphrase. */
  passphrase?: string;
  /** Display name of a replacement device. */
  deviceName: string;
  /** Most undecryptable events kept for a late key (default 500). */
  maxPendingEvents?: number;
  /** How the cross-signing identity is established (see `identity.ts`); undefined skips it. */
  identity?: IdentityOptions;
  /** Which devices get room keys and are believed (default `"all"`; see `trust.ts`). */
  trust?: TrustMode;
  /** Confirms SAS verifications of these users without asking (see `verification.ts`). */
  autoVerify?: { users: readonly string[] };
}

/**
 * Longest a change of the bot's own device list waits for a batch that has
 * news for the crypto machine anyway (see {@link BotCrypto.beforeBatch}).
 */
export const OWN_DEVICE_CHANGE_DELAY_MS = 60_000;

/** Fresh `UserId` objects: the wasm calls take ownership of the arrays they are given. */
function userIds(users: Iterable<string>): UserId[] {
  const out: UserId[] = [];
  for (const user of users) {
    try {
      out.push(new UserId(user));
    } catch {
      // A malformed member state key cannot receive keys anyway.
    }
  }
  return out;
}

/** When `finish` (see {@link BotCrypto.begin}) starts the identity and the key backup set-up. */
export interface FinishOptions {
  /** Only once the first batch has been fed to the machine, so its key queries do not hold that batch up. */
  afterFirstBatch?: boolean;
  /** Only once this resolves as well (the bot's `SetUpTrigger`: after the first answers). */
  setUpAfter?: Promise<void>;
}

/** End-to-end encryption of one bot device. */
export class BotCrypto {
  readonly #members: EncryptedRoomMembers;
  readonly #pump: RequestPump;
  readonly #pending: PendingDecryptions;
  readonly #roomLocks = new KeyedMutex();
  readonly #retries = new Set<Promise<void>>();
  #firstBatch = true;
  #closed = false;
  /** Users the machine tracks (read at start, then every user this class adds). */
  readonly #tracked = new Set<string>();
  /** What the machine was last told about key counts: a batch that repeats it has no news. */
  #lastKeyCounts: string | undefined;
  /**
   * The server's one-time key counts as its answer to the upload made while the machine opened.
   * The first batch's counts were most likely taken before that upload (its /sync went out beside
   * the opening), so the first batch is given these instead.
   */
  #startupKeyCounts: Record<string, number> | undefined;
  /** Since when a change of the bot's own device list waits for the machine (see `beforeBatch`). */
  #ownChangedSince: number | undefined;
  #identity: IdentityReport | undefined;
  #backup: KeyBackup | undefined;
  /**
   * The identity's set-up, which runs on beside the first batches once the machine is open (in the
   * bot, once the first batch is fed): encrypting and decrypting wait for it; rejects when the
   * identity cannot be established.
   */
  #identityReady: Promise<void> = Promise.resolve();
  /** The key backup's set-up, after the identity's (it never rejects). */
  #backupReady: Promise<void> = Promise.resolve();
  /** Called when the first batch has been fed to the machine: see `finish`'s `afterFirstBatch`. */
  #firstBatchFed: (() => void) | undefined;
  /** Opens the set-up's gate at once (at close). */
  #openSetUp: (() => void) | undefined;
  readonly #verifications: Verifications;
  /** The bot's own user id, read once: each `machine.userId` is a call into wasm and a wrapper object, and every batch needs it. */
  readonly #ownUserId: string;

  private constructor(
    private readonly host: CryptoHost,
    private readonly machine: OlmMachine,
    private readonly file: CryptoStoreFile,
    maxPending: number | undefined,
    private readonly trust: TrustMode = "all",
    autoVerify: readonly string[] = [],
  ) {
    this.#ownUserId = machine.userId.toString();
    this.#members = new EncryptedRoomMembers(host.api);
    this.#pump = new RequestPump(machine, host.api, host.log, host.sendRoomEvent);
    this.#pending = new PendingDecryptions(host.store, host.log, maxPending);
    this.#verifications = new Verifications({
      machine,
      pump: this.#pump,
      log: host.log,
      save: () => file.save(),
      directRoom: host.directRoom,
      sendRoomEvent: host.sendRoomEvent,
      listening: () => host.listensForVerification?.() ?? false,
      present: async (verification) => host.verificationRequest?.(verification),
      autoVerify: new Set(autoVerify),
      track: (work) => this.#track(work),
    });
  }

  /**
   * Opens the crypto store and the machine for a session. When the store of a
   * device that already has keys is missing or unreadable, logs in as a new
   * device (needs the password) and returns that session instead.
   *
   * @throws {@link CryptoStoreLockedError} when another process holds the store.
   * @throws {@link CryptoStoreLostError} when a new device is needed but there is no password.
   */
  static async open(host: CryptoHost, session: Session, credentials: Credentials, o: CryptoOpenOptions): Promise<{ crypto: BotCrypto; session: Session }> {
    const opening = await BotCrypto.begin(host, session, credentials, o);
    const crypto = await opening.finish();
    try {
      await crypto.settled;
    } catch (error) {
      await crypto.close();
      throw error;
    }
    return { crypto, session: opening.session };
  }

  /**
   * {@link BotCrypto.open} in two steps, so the bot can start its first
   * `/sync` in between: `begin` opens the store and settles which device
   * the bot is (the session the sync must use); `finish` sets up the
   * machine and uploads keys. The identity and the key backup are set up
   * after it, beside the first batches: a batch does not need them, the first
   * encrypt or decrypt waits for the identity, and {@link BotCrypto.settled}
   * says when both are done (or rejects when the identity failed: close the
   * crypto then). With `afterFirstBatch`, the identity starts only once the
   * first batch has been fed to the machine, so its key queries do not hold
   * up that batch. Call `finish` exactly once; on failure the store is released.
   * `session` may still be on its way (a login): the store opens meanwhile, and the device is
   * settled once both are there; a failed login releases the store and rejects with its error.
   *
   * @throws {@link CryptoStoreLockedError} when another process holds the store.
   * @throws {@link CryptoStoreLostError} when a new device is needed but there is no password.
   */
  static async begin(
    host: CryptoHost,
    session: Session | Promise<Session>,
    credentials: Credentials,
    o: CryptoOpenOptions,
  ): Promise<{ session: Session; finish: (options?: FinishOptions) => Promise<BotCrypto> }> {
    // The wasm library compiles while the store opens and the device is settled (none of which
    // touches it); the machine waits for it in `finish`, beside the first /sync.
    const wasm = loadCryptoWasm();
    // Without a file, a store that keeps the crypto snapshot itself (PostgreSQL) holds it.
    const file = new CryptoStoreFile(o.storePath, o.storePath === undefined ? host.store.cryptoSnapshots?.() : undefined);
    let current: Session;
    let usable: boolean;
    let crashed: boolean;
    try {
      const restored = await file.open();
      // The bot's login may still run beside the opening: the device is settled once both are done.
      ({ session: current, usable } = await resolveDevice(host, file, restored, await session, credentials, o.deviceName));
      file.setOwner(current.userId, current.deviceId);
      crashed = restored.kind === "restored" && usable && !restored.meta.clean;
    } catch (error) {
      await file.abandon();
      throw error;
    }
    const finish = async (options: FinishOptions = {}): Promise<BotCrypto> => {
      try {
        await wasm;
        const machine = await OlmMachine.initialize(new UserId(current.userId), new DeviceId(current.deviceId), file.storeName, o.passphrase);
        const crypto = new BotCrypto(host, machine, file, o.maxPendingEvents, o.trust, o.autoVerify?.users);
        await crypto.#startup(crashed, !usable);
        if (o.identity) crypto.#settle(o.identity, credentials, !usable, options);
        host.log.info({ deviceId: current.deviceId, persistent: file.persistent, restored: usable }, "end-to-end encryption ready");
        return crypto;
      } catch (error) {
        await file.abandon();
        throw error;
      }
    };
    return { session: current, finish };
  }

  /** Loads and compiles the wasm library (the bot starts it while it logs in, without waiting). */
  static async load(): Promise<void> {
    await loadCryptoWasm();
  }

  async #startup(crashed: boolean, newDevice: boolean): Promise<void> {
    await this.#pending.load();
    for (const user of await this.machine.trackedUsers()) {
      this.#tracked.add(user.toString());
      user.free();
    }
    this.#tracked.add(this.#ownUserId);
    this.machine.registerRoomKeyUpdatedCallback(async (keys: RoomKeyInfo[]) => {
      const sessions = new Set(keys.map((k) => k.sessionId));
      // Retried outside the callback: the machine is mid-way through processing sync changes.
      setImmediate(() => this.#track(this.#retrySessions(sessions)));
    });
    watchIdentities(this.machine, () => this.#identity?.masterKey, (change) => this.host.identityChanged?.(change));
    this.machine.registerRoomKeysWithheldCallback(async (withheld: RoomKeyWithheldInfo[]) => {
      const codes = new Map(withheld.map((w) => [w.sessionId, w.withheldCode]));
      setImmediate(() => this.#track(this.#dropWithheld(codes)));
    });
    if (crashed) {
      // The last snapshot may predate messages sent with the outbound sessions;
      // reusing a megolm index would make recipients reject them as replays.
      for (const room of this.host.rooms.rooms.values())
        if (room.isEncrypted) await this.machine.invalidateGroupSession(new RoomId(room.roomId));
      this.host.log.warn("the crypto store was not closed cleanly; outbound room keys will be rotated");
    }
    // A new device has no fallback key on the server: saying so now puts one into the first
    // upload, beside the device keys and one-time keys, instead of a second upload made from the
    // first long poll's batch, in front of the first answer.
    if (newDevice) await this.machine.receiveSyncChanges("[]", new DeviceLists(), new Map(), new Set());
    const uploads = this.#pump.uploads;
    await this.#pump.pump();
    if (this.#pump.uploads > uploads) this.#startupKeyCounts = this.#pump.uploadedKeyCounts;
    await this.file.save();
  }

  /**
   * Starts the identity and then the key backup set-up without waiting: a batch of an unencrypted
   * room needs neither, so the first /sync is not held back by their requests.
   */
  #settle(options: IdentityOptions, credentials: Credentials, newDevice: boolean, when: FinishOptions): void {
    const fed = when.afterFirstBatch || when.setUpAfter ? this.#setUpGate(when) : Promise.resolve();
    const identity = fed.then(() => {
      if (this.#closed) throw new Error("the crypto was closed before the identity was set up");
      return this.#establishIdentity(options, credentials);
    });
    identity.catch(() => undefined);
    this.#identityReady = identity;
    this.#backupReady = identity.then(() => this.#setUpBackup(newDevice), () => undefined);
  }

  /**
   * Opens once the first batch has been fed (with `afterFirstBatch`) and `setUpAfter` resolved,
   * or at close (then the set-up fails at once).
   */
  #setUpGate(when: FinishOptions): Promise<void> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let fed = !when.afterFirstBatch;
    let after = when.setUpAfter === undefined;
    this.#firstBatchFed = () => ((fed = true), after && open());
    this.#openSetUp = open;
    void when.setUpAfter?.then(() => ((after = true), fed && open()));
    return gate;
  }

  /**
   * Resolves once the identity and the key backup are set up (`start()` waits for it);
   * rejects with the identity's error, after which only {@link BotCrypto.close} is left to call.
   */
  get settled(): Promise<void> {
    return this.#identityReady.then(() => this.#backupReady);
  }

  async #establishIdentity(options: IdentityOptions, credentials: Credentials): Promise<void> {
    const password = options.password ?? ("password" in credentials ? credentials.password : undefined);
    const ctx = { machine: this.machine, api: this.host.api, pump: this.#pump, log: this.host.log, save: () => this.file.save() };
    this.#identity = await establishIdentity(ctx, { ...options, password });
  }

  /** Key backup: found or created at start, uploads in the background; never stops the start. */
  async #setUpBackup(newDevice: boolean): Promise<void> {
    const backup = new KeyBackup(this.machine, this.host.api, this.host.log, this.#identity?.secretStorageKey);
    this.#backup = backup;
    try {
      await backup.setUp(this.#identity?.outcome === "created" || this.#identity?.outcome === "reset");
    } catch (error) {
      this.host.log.warn({ error: (error as Error).message }, "could not set up the key backup; room keys are not backed up");
      return;
    }
    // A new device has none of the old room keys; a restart never waits for them.
    if (newDevice && backup.enabled) this.#track(backup.restoreAll());
  }

  /** Asks the key backup (once it is set up) for a session; undefined when there is no backup to ask. */
  async #askBackup(roomId: string, session: string): Promise<boolean | undefined> {
    await this.#backupReady;
    if (!this.#backup?.enabled) return undefined;
    return this.#backup.requestSession(roomId, session);
  }

  /** The key backup (uploads, restore, stats). */
  get backup(): KeyBackup | undefined {
    return this.#backup;
  }

  /** How this start established the cross-signing identity (undefined when `crossSigning` is off). */
  get identity(): IdentityReport | undefined {
    return this.#identity;
  }

  /** This device's id. */
  get deviceId(): string {
    return this.machine.deviceId.toString();
  }

  /** This device's public identity keys (what other users verify). */
  get identityKeys(): { curve25519: string; ed25519: string } {
    const keys = this.machine.identityKeys;
    return { curve25519: keys.curve25519.toBase64(), ed25519: keys.ed25519.toBase64() };
  }

  /** Whether the keys survive a restart. */
  get persistent(): boolean {
    return this.file.persistent;
  }

  /** Number of events waiting for a late room key. */
  get pendingDecryptions(): number {
    return this.#pending.size;
  }

  /** The wasm machine, for what this class does not wrap (verification, backups). */
  get olmMachine(): OlmMachine {
    return this.machine;
  }

  /**
   * Feeds one sync batch to the machine: to-device events, device list
   * changes and key counts, then the members of encrypted rooms to track;
   * sends the resulting requests and saves the store before returning.
   *
   * A bot in unencrypted rooms pays nothing here. A batch with no news for
   * the machine (no to-device events, no encrypted room, no device change
   * of a tracked user, the same key counts) is not fed to it at all: each
   * call makes the machine load and save its account, which costs
   * milliseconds. Synapse lists the bot itself in `device_lists.changed`
   * after many of its own sends; that alone waits (at most
   * {@link OWN_DEVICE_CHANGE_DELAY_MS}, or until the next batch with news).
   * Key queries wait for a batch that involves encryption or a device change
   * of a member of an encrypted room; the machine keeps
   * those users outdated until a query is sent, and `encrypt()` sends every
   * pending query before it shares a room key.
   */
  async beforeBatch(response: SyncResponse, initial: boolean): Promise<void> {
    const { track, encryptedActivity } = this.#members.observe(response, (roomId) => this.host.rooms.rooms.get(roomId)?.isEncrypted ?? false);
    const lists = response.device_lists ?? {};
    const changed = lists.changed ?? [];
    const left = lists.left ?? [];
    const toDevice = response.to_device?.events ?? [];
    const keyCounts = JSON.stringify([response.device_one_time_keys_count ?? {}, response.device_unused_fallback_key_types ?? null]);
    const own = this.#ownUserId;
    if (changed.includes(own)) this.#ownChangedSince ??= Date.now();
    // A member of an encrypted room changed devices or identity: the machine needs their keys now
    // (and reports an identity change from the answer), not at the next encrypted message.
    const trackedChange = changed.some((u) => u !== own && this.#tracked.has(u)) || left.some((u) => this.#tracked.has(u));
    const news =
      initial || this.#firstBatch || encryptedActivity || toDevice.length > 0 || track.length > 0 || this.#pump.failed ||
      keyCounts !== this.#lastKeyCounts || trackedChange ||
      (this.#ownChangedSince !== undefined && Date.now() - this.#ownChangedSince >= OWN_DEVICE_CHANGE_DELAY_MS);
    if (news) {
      // The machine drops a verification request from a device it does not know, and a new
      // contact's request often comes in the very batch that would make the bot track them.
      const requesters = new Set<string>();
      for (const event of toDevice)
        if (event.type === "m.key.verification.request" && typeof event.sender === "string" && !this.#tracked.has(event.sender)) requesters.add(event.sender);
      if (requesters.size > 0) {
        await this.#trackUsers([...requesters]);
        await this.#pump.pump();
      }
      // A deferred change of the bot's own devices goes along with this batch.
      const feed = this.#ownChangedSince !== undefined && !changed.includes(own) ? [...changed, own] : changed;
      // Stale counts (0 one-time keys, no fallback key: the server's view before the machine's first
      // upload; a missing count means 0 too) would make the machine make and upload a second set
      // at once, before the next /sync. The upload's own answer is the fresher count; the fallback
      // key is left to the next batch, whose counts differ from these and so are news.
      const stale = this.#firstBatch ? this.#startupKeyCounts : undefined;
      const counts = new Map(Object.entries(stale ?? response.device_one_time_keys_count ?? {}));
      const fallback = !stale && response.device_unused_fallback_key_types ? new Set(response.device_unused_fallback_key_types) : undefined;
      const processed = await this.machine.receiveSyncChanges(JSON.stringify(toDevice), new DeviceLists(userIds(feed), userIds(left)), counts, fallback);
      this.#ownChangedSince = undefined;
      this.#lastKeyCounts = stale ? undefined : keyCounts;
      if (track.length > 0) await this.#trackUsers(track);
      await this.#pump.pump({ keyQueries: initial || encryptedActivity || toDevice.length > 0 || trackedChange });
      const verifiers = verificationSenders(processed);
      if (verifiers.size > 0) this.#verifications.adoptFrom(verifiers);
    }
    if (this.#firstBatch) {
      this.#firstBatch = false;
      // Opened before the save below: the identity's first steps are requests, the save is local.
      this.#firstBatchFed?.();
      // Keys may have arrived in an earlier run after the events were parked.
      const sessions = new Set(this.#pending.all().map((p) => sessionOf(p.event)).filter((s): s is string => s !== undefined));
      if (sessions.size > 0) this.#track(this.#retrySessions(sessions));
    }
    // A batch with no news wrote nothing: nothing to save, and no promise per batch for it.
    if (this.file.saveNeeded) await this.file.save();
    if (news) this.#backup?.kick();
  }

  async #trackUsers(users: readonly string[]): Promise<void> {
    await this.machine.updateTrackedUsers(userIds(users));
    for (const user of users) this.#tracked.add(user);
  }

  /**
   * Decrypts a timeline event for dispatch. Returns the decrypted event, or
   * undefined when it cannot be decrypted: the failure is reported, and an
   * event whose key may still come is parked and dispatched when it does.
   */
  async decrypt(room: Room, event: ClientEvent): Promise<ClientEvent | undefined> {
    // A redacted encrypted event has no ciphertext left: nothing to decrypt, pass it on as is.
    if (typeof event.content.ciphertext !== "string") return event;
    // The sender's shield may rest on the bot's own identity: not judged before it is in place.
    await this.#identityReady;
    const result = await this.#tryDecrypt(room.roomId, event);
    if ("event" in result) return result.event;
    if (result.failure.willRetry) {
      await this.#pending.add(event);
      // The key may have arrived while this event was being parked.
      const session = sessionOf(event);
      if (session) this.#track(this.#retrySessions(new Set([session])));
      // The backup may have it already; an import retries the parked event like any arriving key.
      if (session) this.#track(this.#askBackup(room.roomId, session).then(() => undefined));
    }
    this.host.log.debug({ roomId: room.roomId, eventId: event.event_id, reason: result.failure.reason }, "could not decrypt an event");
    await this.host.decryptionFailed(room, event, result.failure);
    return undefined;
  }

  async #tryDecrypt(roomId: string, event: ClientEvent): Promise<{ event: ClientEvent } | { failure: DecryptionFailure }> {
    try {
      const settings = decryptionSettings(this.trust);
      const decrypted = await this.machine.decryptRoomEvent(JSON.stringify(event), new RoomId(roomId), settings);
      return { event: decryptedEvent(event, decrypted, sessionOf(event)) };
    } catch (error) {
      return { failure: classifyDecryptionError(error) };
    }
  }

  /** The sender will never send these keys: stop waiting and report it. */
  async #dropWithheld(codes: Map<string, string>): Promise<void> {
    for (const [session, code] of codes) {
      for (const parked of this.#pending.forSession(session)) {
        await this.#pending.remove(parked.event.event_id);
        const room = this.host.rooms.rooms.get(parked.event.room_id);
        if (room) await this.host.decryptionFailed(room, parked.event, { reason: "withheld", message: `the sender withheld the room key (${code})`, willRetry: false });
      }
    }
  }

  async #retrySessions(sessions: Set<string>): Promise<void> {
    for (const session of sessions) {
      await this.#roomLocks.run(`retry:${session}`, async () => {
        for (const parked of this.#pending.forSession(session)) {
          if (this.#closed) return;
          const room = this.host.rooms.rooms.get(parked.event.room_id);
          const result = await this.#tryDecrypt(parked.event.room_id, parked.event);
          if (!("event" in result)) {
            if (!result.failure.willRetry) await this.#pending.remove(parked.event.event_id);
            continue;
          }
          if (room) {
            this.host.log.debug({ roomId: room.roomId, eventId: parked.event.event_id }, "decrypted an event after its key arrived");
            try {
              await this.host.dispatch(room, result.event);
            } catch (error) {
              this.host.reportError(error, { source: "decryptedLate", room, event: result.event });
            }
          }
          await this.#pending.remove(parked.event.event_id);
        }
      });
    }
  }

  #track(work: Promise<void>): void {
    const task = work.catch((error: unknown) => this.host.reportError(error, { source: "crypto" })).finally(() => this.#retries.delete(task));
    this.#retries.add(task);
  }

  /**
   * Encrypts an event for a room: makes sure every member's devices are
   * known, Olm sessions exist and the room key is shared with them (under a
   * per-room lock, right before encrypting), then returns the
   * `m.room.encrypted` content to send.
   */
  async encrypt(room: Pick<Room, "roomId" | "encryption">, eventType: string, content: Record<string, unknown>): Promise<Record<string, unknown>> {
    // Who gets the room key may depend on the bot's own identity (the crossSigned trust mode).
    await this.#identityReady;
    return this.#roomLocks.run(room.roomId, async () => {
      const users = await this.#members.get(room.roomId);
      await this.#trackUsers(users);
      await this.#pump.pump();
      await this.#roomLocks.run("claim", async () => {
        const claim = await this.machine.getMissingSessions(userIds(users));
        if (claim) await this.#pump.send(claim);
      });
      const requests = await this.machine.shareRoomKey(new RoomId(room.roomId), userIds(users), this.#settings(room));
      for (const request of requests)
        if (!(await this.#pump.send(request))) throw new Error(`could not share the room key of ${room.roomId}`);
      const encrypted = await this.machine.encryptRoomEvent(new RoomId(room.roomId), eventType, JSON.stringify(content));
      this.file.save().catch((error: unknown) => this.host.reportError(error, { source: "crypto", room: this.host.rooms.rooms.get(room.roomId) }));
      this.#backup?.kick();
      return JSON.parse(encrypted) as Record<string, unknown>;
    });
  }

  #settings(room: Pick<Room, "encryption">): EncryptionSettings {
    const settings = new EncryptionSettings();
    // "all": whoever is in the room; "crossSigned": only devices their owner signed (MSC4153).
    settings.sharingStrategy = sharingStrategy(this.trust);
    const { rotation_period_ms: ms, rotation_period_msgs: msgs } = (room.encryption ?? {}) as { rotation_period_ms?: unknown; rotation_period_msgs?: unknown };
    if (typeof ms === "number" && ms > 0) settings.rotationPeriod = BigInt(Math.floor(ms)) * 1000n;
    if (typeof msgs === "number" && msgs > 0) settings.rotationPeriodMessages = BigInt(Math.floor(msgs));
    return settings;
  }

  /**
   * Exports every room key the bot has, encrypted with a passphrase, in the
   * format Element's "Export E2E room keys" uses (`-----BEGIN MEGOLM SESSION DATA-----`).
   *
   * @example
   * await writeFile("keys.txt", await bot.crypto.exportRoomKeys("correct horse"));
   */
  async exportRoomKeys(passphrase: string, rounds = 500_000): Promise<string> {
    registerSecret(passphrase);
    const json = await this.machine.exportRoomKeys(() => true);
    return OlmMachine.encryptExportedRoomKeys(json, passphrase, rounds);
  }

  /**
   * Imports room keys from an Element-format export. Events that were waiting
   * for one of these keys are decrypted and dispatched.
   */
  async importRoomKeys(data: string, passphrase: string): Promise<{ imported: number; total: number }> {
    registerSecret(passphrase);
    const json = OlmMachine.decryptExportedRoomKeys(data, passphrase);
    const result = await this.machine.importExportedRoomKeys(json, () => undefined);
    await this.file.save();
    return { imported: result.importedCount, total: result.totalCount };
  }

  /**
   * Sets up cross-signing for an account without cross-signing keys and
   * signs this device. Every start already does this (see `identity.ts`,
   * the `recoveryKey` option), so this returns `"already"` unless the bot
   * runs with `crossSigning: false`.
   *
   * @returns `"created"`, or `"already"` when this device holds the keys already.
   */
  async bootstrapCrossSigning(password: string): Promise<"created" | "already"> {
    registerSecret(password);
    return bootstrapCrossSigning(this.machine, this.host, this.#pump, this.file, password);
  }

  /**
   * Decrypts an event fetched from the server (not dispatched, not parked):
   * when its key is missing, asks the key backup for that session first.
   */
  async decryptFetched(roomId: string, event: ClientEvent): Promise<ClientEvent | undefined> {
    if (typeof event.content.ciphertext !== "string") return event;
    await this.#identityReady;
    let result = await this.#tryDecrypt(roomId, event);
    const session = sessionOf(event);
    if (!("event" in result) && result.failure.willRetry && session) {
      // Tried again whatever the answer: the background restore of a new device may have
      // imported the key meanwhile, and then this import counts nothing new.
      if ((await this.#askBackup(roomId, session)) !== undefined) result = await this.#tryDecrypt(roomId, event);
    }
    return "event" in result ? result.event : undefined;
  }

  /**
   * Starts a SAS verification with a user: with `deviceId`, by to-device
   * message to that device; without, in the DM with them (`options.roomId`,
   * else the bot's DM room with the user), as clients do for "Verify user".
   * For the bot's own account without `deviceId`, every other device of it is
   * asked. The `verificationRequest` event fires too once the emoji are ready.
   *
   * @example
   * const v = await bot.crypto.requestVerification("@alice:example.org");
   * const { emoji } = await v.shortAuthString();
   * console.log(emoji?.map((e) => e.symbol).join(" "));
   * await v.confirm(); // only after Alice said they match
   * await v.done();
   */
  requestVerification(userId: string, deviceId?: string, options: { roomId?: string } = {}): Promise<Verification> {
    return this.#verifications.request(userId, deviceId, options.roomId);
  }

  /**
   * Feeds an in-room verification event (a `m.key.verification.*` event, or
   * the `m.key.verification.request` message) to the machine; the bot calls
   * it for every such timeline event after decryption.
   */
  receiveVerificationEvent(roomId: string, event: ClientEvent): Promise<void> {
    return this.#verifications.receiveRoomEvent(roomId, event);
  }

  /**
   * Whether the bot trusts a user's cross-signing identity (it verified it,
   * or it is the bot's own and this device holds its keys); with `deviceId`,
   * whether that device is verified (cross-signed by a verified identity, or
   * verified directly).
   */
  async isVerified(userId: string, deviceId?: string): Promise<boolean> {
    if (deviceId !== undefined) {
      const device = await this.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
      try {
        return device?.isVerified() ?? false;
      } finally {
        device?.free();
      }
    }
    const identity = await this.machine.getIdentity(new UserId(userId));
    try {
      return identity?.isVerified() ?? false;
    } finally {
      identity?.free();
    }
  }

  /** Waits for late decryptions, saves a final snapshot and releases the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // An identity still waiting for the first batch (or its trigger) is not set up at all.
    this.#openSetUp?.();
    // The set-up still running uses the machine: it ends (or fails) before the machine is closed.
    await this.#backupReady;
    await this.#backup?.close();
    await Promise.allSettled([...this.#retries]);
    await this.#verifications.close();
    // The machine holds the databases open; they can be snapshotted and deleted only once it let go.
    this.machine.close();
    await this.file.close();
  }
}
