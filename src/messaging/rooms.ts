/**
 * Room and account management for bots: membership (join, leave, invite,
 * kick, ban), room state, the bot's per-room display name, account data,
 * profile and presence. Thin over `MatrixApi`, adding what a bot would
 * otherwise rewrite each time: "not found" as `undefined`, reads served from
 * what sync already delivered, and writes reflected locally at once.
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { MemberContent } from "../api/events.js";
import type { PresenceResponse, ProfileResponse } from "../api/types.js";
import type { RoomTracker } from "../sync/tracker.js";

/** What the management groups need from the bot. */
export interface ManagementHost {
  readonly api: MatrixApi;
  readonly userId: string;
  readonly rooms: RoomTracker;
}

/** `undefined` for M_NOT_FOUND (404), the result otherwise. */
async function orUndefined<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof MatrixError && (error.errcode === "M_NOT_FOUND" || error.status === 404)) return undefined;
    throw error;
  }
}

/**
 * Membership, state and room account data. Available as `bot.roomsApi`.
 *
 * @example
 * const roomId = await bot.roomsApi.join("#lobby:example.org", { via: ["example.org"] });
 * await bot.roomsApi.setDisplayName(roomId, "Lobby bot");
 * await bot.roomsApi.kick(roomId, "@spammer:example.org", "spam");
 */
export class RoomsApi {
  constructor(private readonly host: ManagementHost) {}

  /** Joins by room id or alias (`via`: servers to join through, for rooms the server doesn't know); returns the room id. */
  async join(roomIdOrAlias: string, options: { via?: string[]; reason?: string } = {}): Promise<string> {
    const { room_id } = await this.host.api.rooms.join(roomIdOrAlias, options);
    return room_id;
  }

  /** Leaves a room (or rejects an invite). */
  async leave(roomId: string, reason?: string): Promise<void> {
    await this.host.api.rooms.leave(roomId, reason);
  }

  async invite(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.host.api.rooms.invite(roomId, userId, reason);
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.host.api.rooms.kick(roomId, userId, reason);
  }

  async ban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.host.api.rooms.ban(roomId, userId, reason);
  }

  async unban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.host.api.rooms.unban(roomId, userId, reason);
  }

  /**
   * A state event's content from the server, or undefined if there is none.
   * (For the few types sync keeps, `bot.getRoom(id)?.getState(type)` costs no request.)
   */
  getState<C = Record<string, unknown>>(roomId: string, eventType: string, stateKey = ""): Promise<C | undefined> {
    return orUndefined(this.host.api.rooms.getState(roomId, eventType, stateKey)) as Promise<C | undefined>;
  }

  /** Sets a state event; returns its event id. */
  async putState(roomId: string, eventType: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
    const { event_id } = await this.host.api.rooms.putState(roomId, eventType, stateKey, content);
    return event_id;
  }

  /**
   * Sets the bot's display name in one room only, by re-sending its own
   * `m.room.member` with a new `displayname`. The rest of the member content
   * (avatar, `is_direct`...) is kept, except `reason` and
   * `join_authorised_via_users_server`, which belong to the original join.
   */
  async setDisplayName(roomId: string, displayName: string): Promise<string> {
    const userId = this.host.userId;
    const known = this.host.rooms.rooms.get(roomId)?.getState<MemberContent>("m.room.member", userId);
    const current = known ?? (await this.getState<MemberContent>(roomId, "m.room.member", userId));
    if (current?.membership !== "join") throw new Error(`cannot set a display name in ${roomId}: the bot has not joined it`);
    const { reason: _reason, join_authorised_via_users_server: _via, ...rest } = current;
    return this.putState(roomId, "m.room.member", userId, { ...rest, membership: "join", displayname: displayName });
  }

  /** Room account data of the bot: from sync when it delivered it, else from the server; undefined if unset. */
  async getAccountData<C = Record<string, unknown>>(roomId: string, type: string): Promise<C | undefined> {
    const known = this.host.rooms.rooms.get(roomId)?.getAccountData<C>(type);
    if (known !== undefined) return known;
    return (await orUndefined(this.host.api.accountData.getRoom(this.host.userId, roomId, type))) as C | undefined;
  }

  /** Sets room account data; later reads see it at once. */
  async putAccountData(roomId: string, type: string, content: Record<string, unknown>): Promise<void> {
    await this.host.api.accountData.putRoom(this.host.userId, roomId, type, content);
    this.host.rooms.rooms.get(roomId)?.accountData.set(type, content);
  }
}

/**
 * The bot's global account data, profile and presence. Available as `bot.accountApi`.
 *
 * @example
 * await bot.accountApi.setDisplayName("Helper");
 * await bot.accountApi.putAccountData("org.example.settings", { lang: "en" });
 */
export class AccountApi {
  constructor(private readonly host: ManagementHost) {}

  /** Global account data: from sync when it delivered it, else from the server; undefined if unset. */
  async getAccountData<C = Record<string, unknown>>(type: string): Promise<C | undefined> {
    const known = this.host.rooms.accountData.get(type);
    if (known !== undefined) return known as C;
    return (await orUndefined(this.host.api.accountData.get(this.host.userId, type))) as C | undefined;
  }

  /** Sets global account data; later reads see it at once (and it is stored with the next sync). */
  async putAccountData(type: string, content: Record<string, unknown>): Promise<void> {
    await this.host.api.accountData.put(this.host.userId, type, content);
    this.host.rooms.setAccountData(type, content);
  }

  /** A user's profile (default: the bot's own). */
  getProfile(userId: string = this.host.userId): Promise<ProfileResponse> {
    return this.host.api.profile.get(userId);
  }

  /** Sets the bot's global display name (servers also update its member events in every room). */
  async setDisplayName(displayName: string): Promise<void> {
    await this.host.api.profile.setDisplayName(this.host.userId, displayName);
  }

  /** Sets the bot's avatar (an `mxc://` URI, e.g. from `api.media.upload`). */
  async setAvatarUrl(avatarUrl: string): Promise<void> {
    await this.host.api.profile.setAvatarUrl(this.host.userId, avatarUrl);
  }

  /** A user's presence (default: the bot's own). */
  getPresence(userId: string = this.host.userId): Promise<PresenceResponse> {
    return this.host.api.profile.getPresence(userId);
  }

  /**
   * Sets the bot's presence and status message. Note: servers treat each
   * `/sync` as activity (Synapse sets "online" again on every sync made
   * without `set_presence`), so while the bot syncs, a state other than
   * "online" does not last.
   */
  async setPresence(presence: "online" | "offline" | "unavailable", statusMessage?: string): Promise<void> {
    await this.host.api.profile.setPresence(this.host.userId, presence, statusMessage);
  }
}
