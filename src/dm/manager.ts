/**
 * `DirectMessages`: finds, creates and records the bot's direct rooms, so a
 * message can be sent to a user id (`bot.sendMessage("@alice:example.org", ...)`).
 *
 * - Candidates come from `m.direct`, newest first, but `m.direct` is not
 *   trusted: a candidate is used only if it passes {@link localVerdict} (or the
 *   server's member list when local state cannot tell).
 * - Resolving is serialized per user, so concurrent sends create one room.
 * - A transient failure surfaces as an error; only a definite answer
 *   disqualifies a room, so a flaky server never causes a duplicate room.
 * - A resolved room is cached and re-checked against local state on every
 *   send, which costs no request while it stays valid.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError, isTransientError } from "../api/errors.js";
import type { ClientEvent, StrippedStateEvent } from "../api/events.js";
import type { CreateRoomRequest } from "../api/types.js";
import type { ErrorContext } from "../core/errors.js";
import type { Logger } from "../logging/logger.js";
import type { Room } from "../sync/room.js";
import type { RoomTracker } from "../sync/tracker.js";
import { KeyedMutex, sleep } from "../util/async.js";
import { directPartnersOf, directRoomsFor, parseDirect, type DirectContent } from "./mdirect.js";
import { isUserId } from "../ids/grammar.js";
import { candidateOrder, findOrphanDm, fingerprintOf, localVerdict, membersVerdict, snapshotOf, type DmVerdict } from "./verdict.js";
import { DirectWriter, M_DIRECT } from "./writer.js";

/** What the DM layer needs from the bot (a `NioBot` is one). */
export interface DirectMessagesHost {
  readonly api: MatrixApi;
  readonly rooms: RoomTracker;
  readonly userId: string;
  readonly log: Logger;
  readonly options: { readonly dmEncryption?: boolean | undefined };
  /** Whether the bot runs with end-to-end encryption: the default of `dmEncryption`. */
  readonly encryptionEnabled?: boolean;
  /** Records that a room is encrypted before sync shows it; persisted at once. */
  markRoomEncrypted(roomId: string): Promise<void>;
  reportError(error: unknown, context: ErrorContext): void;
  on(name: "leave", listener: (room: Room, event: ClientEvent | undefined) => unknown): () => void;
}

/** Options of {@link DirectMessages.createDmRoom}. */
export interface CreateDmRoomOptions {
  /** Encrypt the room (default: the bot's `dmEncryption` option, itself defaulting to whether the bot runs with encryption). */
  encrypted?: boolean;
  /** Room name (DMs usually have none; clients show the other person's name). */
  name?: string;
  /** Room topic. */
  topic?: string;
}

/** A direct room with one user. */
export interface DmRoom {
  roomId: string;
  userId: string;
}

/** How long to wait for sync to show a room whose creation failed transiently (it may exist anyway). */
const ORPHAN_WAIT_MS = 3_000;
/** How long a room the bot just created counts as valid before sync shows the invite. */
const FRESH_TRUST_MS = 30_000;
/** The fingerprint of a room sync has not shown (no local state to compare). */
const UNSEEN = "unseen";
/** Most upgrades followed from one tombstoned room. */
const MAX_TOMBSTONE_HOPS = 5;

/** The bot's direct messages. Reached as `bot.dms`. */
export class DirectMessages {
  readonly #host: DirectMessagesHost;
  readonly #writer: DirectWriter;
  readonly #userLocks = new KeyedMutex();
  /** userId → the room the last resolve chose; re-checked locally on every use. */
  readonly #resolved = new Map<string, string>();
  /** Rooms the bot created, until sync shows the user's membership: roomId → user and creation time. */
  readonly #fresh = new Map<string, { userId: string; at: number }>();
  /** Rooms joined from a direct invite, until sync shows the join. */
  readonly #joining = new Set<string>();
  /** Server verdicts, valid while the room's local fingerprint is unchanged. */
  readonly #verdicts = new Map<string, { fingerprint: string; verdict: DmVerdict }>();

  constructor(host: DirectMessagesHost) {
    this.#host = host;
    this.#writer = new DirectWriter(host);
    host.on("leave", (room) => this.#forgetRoom(room.roomId));
  }

  /**
   * The room to message `userId` in: a valid recorded DM, or a new one
   * (created, invited and recorded in `m.direct`).
   *
   * `bot.sendMessage("@alice:example.org", text)` sends through this.
   */
  resolve(userId: string): Promise<string> {
    this.#assertPartner(userId);
    return this.#userLocks.run(userId, async () => {
      if (this.#writer.hasPending) void this.#writer.flush().catch((error: unknown) => this.#report(error));
      const cached = this.#resolved.get(userId);
      if (cached !== undefined) {
        const usable = await this.#usable(cached, userId);
        if (usable !== undefined) return this.#remember(userId, usable);
        this.#resolved.delete(userId);
      }
      const tried = new Set(cached === undefined ? [] : [cached]);
      for (const candidate of candidateOrder(directRoomsFor(this.#localDirect(), userId))) {
        if (tried.has(candidate)) continue;
        tried.add(candidate);
        const usable = await this.#usable(candidate, userId);
        if (usable !== undefined) return this.#remember(userId, usable);
      }
      const orphan = this.#findOrphan(userId);
      if (orphan !== undefined) {
        await this.#record(userId, orphan);
        return this.#remember(userId, orphan);
      }
      return this.#remember(userId, await this.#create(userId, {}));
    });
  }

  /**
   * Every user's direct rooms as recorded in `m.direct` (unchecked), or one
   * user's. No `m.direct` yet is empty. Reads the bot's synced copy, which the
   * bot updates itself whenever it writes.
   */
  async getDmRooms(): Promise<DirectContent>;
  async getDmRooms(userId: string): Promise<string[]>;
  async getDmRooms(userId?: string): Promise<DirectContent | string[]> {
    await this.#writer.idle();
    const direct = this.#localDirect();
    return userId === undefined ? parseDirect(direct) : directRoomsFor(direct, userId);
  }

  /**
   * Creates a new direct room with `userId` (even when one exists), invites
   * them and records it in `m.direct`. Later sends to the user use it.
   */
  async createDmRoom(userId: string, options: CreateDmRoomOptions = {}): Promise<DmRoom> {
    this.#assertPartner(userId);
    const roomId = await this.#create(userId, options);
    this.#resolved.set(userId, roomId);
    return { roomId, userId };
  }

  /**
   * Records an existing room as a DM with `userId` in `m.direct` (for rooms
   * the bot joined itself; invites flagged `is_direct` are recorded
   * automatically). It is used for later sends only while it passes the checks.
   *
   * @throws when `m.direct` cannot be read or written.
   */
  async recordDmRoom(userId: string, roomId: string): Promise<void> {
    this.#assertPartner(userId);
    await this.#writer.add(userId, roomId);
    this.#resolved.delete(userId);
  }

  /**
   * Whether `roomId` is a direct room of the bot: recorded in `m.direct` and,
   * right now, a one-to-one room with that user (same rules as sending).
   */
  async isDm(roomId: string): Promise<boolean> {
    const partners = new Set(directPartnersOf(this.#localDirect(), roomId));
    const fresh = this.#fresh.get(roomId);
    if (fresh !== undefined) partners.add(fresh.userId);
    for (const userId of partners) {
      if (userId === this.#host.userId) continue;
      if ((await this.#check(roomId, userId)).kind === "valid") return true;
    }
    return false;
  }

  /**
   * Called after the bot joined a room it was invited to: an invite flagged
   * `is_direct` is recorded as a DM with the inviter. Never throws; failures
   * reach the bot's error funnel.
   */
  async handleJoinedInvite(room: Room, invite: StrippedStateEvent | undefined): Promise<void> {
    const inviter = invite?.sender;
    if (invite?.content.is_direct !== true || inviter === undefined || !isUserId(inviter) || inviter === this.#host.userId) return;
    this.#joining.add(room.roomId);
    // The user just opened a new DM with the bot: prefer it over an older cached one.
    this.#resolved.delete(inviter);
    await this.#record(inviter, room.roomId, room);
  }

  /** The room to use if `roomId` (or what it was upgraded to) is a valid DM with the user. */
  async #usable(roomId: string, userId: string, hops = 0): Promise<string | undefined> {
    const verdict = await this.#check(roomId, userId);
    if (verdict.kind === "valid") return roomId;
    if (verdict.kind === "tombstoned" && hops < MAX_TOMBSTONE_HOPS && verdict.replacement !== roomId) {
      const replacement = await this.#usable(verdict.replacement, userId, hops + 1);
      if (replacement !== undefined && !directRoomsFor(this.#localDirect(), userId).includes(replacement))
        await this.#record(userId, replacement);
      return replacement;
    }
    this.#host.log.debug({ roomId, userId, verdict }, "direct room candidate not usable");
    return undefined;
  }

  /** Checks one room for one user: local state first, then the server when needed. */
  async #check(roomId: string, userId: string): Promise<DmVerdict> {
    const room = this.#host.rooms.rooms.get(roomId);
    if (room?.membership === "leave") return { kind: "invalid", reason: "the bot left" };
    const fresh = this.#fresh.get(roomId);
    if (fresh?.userId === userId) {
      // Sync may show a new room in parts; until the invite shows, what createRoom did is the truth
      // (for a while: an invite that never shows up did not happen).
      if (room?.member(userId) === undefined && Date.now() - fresh.at < FRESH_TRUST_MS) return { kind: "valid" };
      this.#fresh.delete(roomId);
    }
    if (room?.membership !== "join") {
      if (this.#joining.has(roomId)) return this.#askServer(roomId, userId);
      // Sliding sync shows a room once it has news: one it has not shown may well be joined. Any
      // membership change would show it, so the server's verdict stands until then.
      if (room === undefined && this.#host.rooms.partial) return this.#serverVerdict(roomId, userId, UNSEEN, "not shown by sliding sync yet");
      return { kind: "invalid", reason: "the bot is not joined" };
    }
    this.#joining.delete(roomId);
    const local = localVerdict(snapshotOf(room, userId));
    if (local.kind !== "unknown") return local;
    return this.#serverVerdict(roomId, userId, fingerprintOf(room), local.reason);
  }

  /** The server's verdict, asked once per fingerprint of what the bot knows about the room. */
  async #serverVerdict(roomId: string, userId: string, fingerprint: string, reason: string): Promise<DmVerdict> {
    const key = `${roomId}\n${userId}`;
    const known = this.#verdicts.get(key);
    if (known?.fingerprint === fingerprint) return known.verdict;
    this.#host.log.debug({ roomId, userId, reason }, "asking the server about a direct room");
    const verdict = await this.#askServer(roomId, userId);
    this.#verdicts.set(key, { fingerprint, verdict });
    return verdict;
  }

  /** The server's member list decides; only a definite refusal makes a room invalid. */
  async #askServer(roomId: string, userId: string): Promise<DmVerdict> {
    try {
      const { chunk } = await this.#host.api.rooms.members(roomId, { not_membership: "leave" });
      return membersVerdict(this.#host.userId, userId, chunk);
    } catch (error) {
      if (error instanceof MatrixError && (error.errcode === "M_FORBIDDEN" || error.errcode === "M_NOT_FOUND") && (error.status === 403 || error.status === 404))
        return { kind: "invalid", reason: `the server refused: ${error.errcode}` };
      throw error;
    }
  }

  /** Creates a DM room and records it. */
  async #create(userId: string, options: CreateDmRoomOptions): Promise<string> {
    const encrypted = options.encrypted ?? this.#host.options.dmEncryption ?? this.#host.encryptionEnabled ?? false;
    const request: CreateRoomRequest = {
      preset: "trusted_private_chat",
      is_direct: true,
      invite: [userId],
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.topic !== undefined ? { topic: options.topic } : {}),
      ...(encrypted ? { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] } : {}),
    };
    let roomId: string;
    try {
      ({ room_id: roomId } = await this.#host.api.rooms.create(request));
    } catch (error) {
      // A lost response may hide a room the server did create; adopt it rather than make a second one.
      const adopted = isTransientError(error) ? await this.#waitForOrphan(userId) : undefined;
      if (adopted === undefined) throw error;
      this.#host.log.warn({ roomId: adopted, userId }, "room creation failed transiently but the room exists; using it");
      roomId = adopted;
    }
    // Sync shows the encryption event only later: until then a send must not see a plaintext room.
    if (encrypted) await this.#host.markRoomEncrypted(roomId).catch((error: unknown) => this.#report(error));
    this.#fresh.set(roomId, { userId, at: Date.now() });
    this.#host.log.info({ roomId, userId }, "created direct room");
    await this.#record(userId, roomId);
    return roomId;
  }

  #findOrphan(userId: string): string | undefined {
    return findOrphanDm(this.#host.rooms.rooms.values(), this.#host.userId, userId);
  }

  async #waitForOrphan(userId: string): Promise<string | undefined> {
    const deadline = Date.now() + ORPHAN_WAIT_MS;
    for (;;) {
      const orphan = this.#findOrphan(userId);
      if (orphan !== undefined || Date.now() >= deadline) return orphan;
      await sleep(100);
    }
  }

  /** Records a DM in `m.direct`; a failure is reported and retried on a later resolve. */
  async #record(userId: string, roomId: string, room?: Room): Promise<void> {
    try {
      await this.#writer.add(userId, roomId);
    } catch (error) {
      this.#report(error, room);
    }
  }

  #remember(userId: string, roomId: string): string {
    this.#resolved.set(userId, roomId);
    return roomId;
  }

  #forgetRoom(roomId: string): void {
    this.#fresh.delete(roomId);
    this.#joining.delete(roomId);
    for (const key of this.#verdicts.keys()) if (key.startsWith(`${roomId}\n`)) this.#verdicts.delete(key);
  }

  #localDirect(): Record<string, unknown> | undefined {
    return this.#host.rooms.accountData.get(M_DIRECT);
  }

  #assertPartner(userId: string): void {
    if (!isUserId(userId)) throw new TypeError(`not a user id: ${JSON.stringify(userId)}`);
    if (userId === this.#host.userId) throw new TypeError("the bot cannot open a direct room with itself");
  }

  #report(error: unknown, room?: Room): void {
    this.#host.reportError(error, { source: "dm", ...(room ? { room } : {}) });
  }
}
