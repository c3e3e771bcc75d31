/**
 * Virtual users: the users of an appservice's namespace, acting through the
 * appservice's `as_token` with the `user_id` identity assertion.
 *
 * A virtual user is registered on first use (`m.login.application_service`;
 * `M_USER_IN_USE` means it already exists), gets its profile set once, and
 * has its own direct rooms (its own `m.direct`, read-merge-written like the
 * bot's). Its sends are fail-closed like the bot's: a room that is encrypted,
 * or whose encryption cannot be told, gets nothing (virtual users have no
 * device keys; end-to-end encryption for them is not implemented).
 *
 * @module
 */
import { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { HttpClientOptions } from "../api/http.js";
import type { ErrorContext } from "../core/errors.js";
import type { MessageOptions } from "../content/message.js";
import { EncryptionRequiredError } from "../crypto/errors.js";
import { RoomEncryption } from "../crypto/room-encryption.js";
import { DirectMessages, type CreateDmRoomOptions, type DmRoom } from "../dm/manager.js";
import { M_DIRECT } from "../dm/writer.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { RoomTracker } from "../sync/tracker.js";
import { KeyedMutex } from "../util/async.js";
import { composeMessage, type Sendable } from "../messaging/compose.js";

/** What a {@link VirtualUser} needs from the appservice. */
export interface VirtualUserHost {
  /** Transport options shared by every virtual user (base URL, fetch, retry); the token is the `as_token`. */
  readonly http: HttpClientOptions;
  readonly store: Store;
  readonly log: Logger;
  reportError(error: unknown, context: ErrorContext): void;
}

/** The profile a virtual user gets when it is first used. */
export interface VirtualUserProfile {
  displayName?: string;
  /** An `mxc://` URI. */
  avatarUrl?: string;
}

/** The store key marking a virtual user as registered with its profile set, so a restart asks the server nothing. */
const READY_PREFIX = "appservice.user.";

/**
 * A user of the appservice's namespace, acting as itself. Get one from
 * `bot.as(userId)`.
 *
 * @example
 * const alice = await bot.as("@_bridge_alice:example.org", { displayName: "Alice (bridged)" });
 * await alice.join("!room:example.org");
 * await alice.sendMessage("!room:example.org", "hello from the other side");
 */
export class VirtualUser {
  /** The client-server API acting as this user. */
  readonly api: MatrixApi;
  /** Rooms and account data this user's actions have shown (its `m.direct`). */
  readonly rooms: RoomTracker;
  readonly #host: VirtualUserHost;
  readonly #encryption: RoomEncryption;
  readonly #sendQueue = new KeyedMutex();
  #dms: DirectMessages | undefined;
  #ready: Promise<void> | undefined;

  constructor(readonly userId: string, host: VirtualUserHost) {
    this.#host = host;
    this.api = new MatrixApi({ ...host.http, assertUserId: userId });
    this.rooms = new RoomTracker(userId);
    this.#encryption = new RoomEncryption({ api: this.api, store: host.store, rooms: this.rooms, log: host.log });
  }

  /**
   * Registers the user if needed and sets its profile; done once per process
   * (and skipped after a restart once recorded in the store).
   */
  ensureReady(profile: VirtualUserProfile = {}): Promise<void> {
    this.#ready ??= this.#prepare(profile).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #prepare(profile: VirtualUserProfile): Promise<void> {
    const key = READY_PREFIX + this.userId;
    const wanted = JSON.stringify(profile);
    if ((await this.#host.store.getValue(key)) === wanted) return;
    const localpart = this.userId.slice(1, this.userId.indexOf(":"));
    try {
      // The appservice's own token authenticates; no user_id here: the user does not exist yet.
      await new MatrixApi({ ...this.#host.http, assertUserId: undefined }).http.request({
        method: "POST",
        path: "/_matrix/client/v3/register",
        body: { type: "m.login.application_service", username: localpart, inhibit_login: true },
        idempotent: true,
      });
      this.#host.log.info({ userId: this.userId }, "registered virtual user");
    } catch (error) {
      if (!(error instanceof MatrixError && error.errcode === "M_USER_IN_USE")) throw error;
    }
    if (profile.displayName !== undefined) await this.api.profile.setDisplayName(this.userId, profile.displayName);
    if (profile.avatarUrl !== undefined) await this.api.profile.setAvatarUrl(this.userId, profile.avatarUrl);
    const direct = await this.#readDirect();
    if (direct) this.rooms.setAccountData(M_DIRECT, direct);
    this.rooms.takeChanges();
    await this.#host.store.setValue(key, wanted);
  }

  async #readDirect(): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.api.accountData.get(this.userId, M_DIRECT);
    } catch (error) {
      if (error instanceof MatrixError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** This user's direct messages: its own `m.direct`, its own rooms. */
  get dms(): DirectMessages {
    this.#dms ??= new DirectMessages({
      api: this.api,
      rooms: this.rooms,
      userId: this.userId,
      log: this.#host.log,
      options: { dmEncryption: false },
      encryptionEnabled: false,
      markRoomEncrypted: (roomId) => this.#encryption.markEncrypted(roomId),
      reportError: (error, context) => this.#host.reportError(error, context),
      // Virtual users have no sync of their own; leaves are not observed.
      on: () => () => undefined,
    });
    return this.#dms;
  }

  /** Joins a room by id or alias; returns the room id. */
  async join(roomIdOrAlias: string, options: { via?: string[] } = {}): Promise<string> {
    await this.ensureReady();
    const { room_id } = await this.api.rooms.join(roomIdOrAlias, { via: options.via });
    return room_id;
  }

  /** Leaves a room. */
  async leave(roomId: string): Promise<void> {
    await this.ensureReady();
    await this.api.rooms.leave(roomId);
  }

  /** Sets this user's display name. */
  async setDisplayName(displayName: string): Promise<void> {
    await this.ensureReady();
    await this.api.profile.setDisplayName(this.userId, displayName);
  }

  /** Sets this user's avatar (`mxc://` URI). */
  async setAvatarUrl(avatarUrl: string): Promise<void> {
    await this.ensureReady();
    await this.api.profile.setAvatarUrl(this.userId, avatarUrl);
  }

  /** Creates a direct room with a user, invites them and records it in this user's `m.direct`. */
  async createDmRoom(userId: string, options?: CreateDmRoomOptions): Promise<DmRoom> {
    await this.ensureReady();
    return this.dms.createDmRoom(userId, options);
  }

  /**
   * Sends a message to a room, or to a user id through this user's direct
   * room with them (found in its `m.direct` and checked, or created).
   */
  async sendMessage(target: string, content: Sendable, options: MessageOptions = {}): Promise<string> {
    await this.ensureReady();
    // A virtual user usually stands for a person: `m.text`, not the bot's `m.notice`.
    const body = composeMessage(content, options, { msgtype: "m.text", ownUserId: this.userId });
    const roomId = target.startsWith("@") ? await this.dms.resolve(target) : target;
    return this.sendEvent(roomId, "m.room.message", body);
  }

  /**
   * Sends any room event as this user, one at a time per room. Refuses
   * (`EncryptionRequiredError`) in an encrypted room, and sends nothing when
   * the room's encryption cannot be told.
   */
  async sendEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    await this.ensureReady();
    return this.#sendQueue.run(roomId, async () => {
      if (await this.#encryption.settingsOf(roomId)) throw new EncryptionRequiredError(roomId);
      const { event_id } = await this.api.rooms.send(roomId, eventType, content);
      return event_id;
    });
  }
}
