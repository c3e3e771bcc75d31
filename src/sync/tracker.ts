/**
 * Keeps the bot's view of rooms and account data up to date from sync
 * responses, and records what changed so the store can persist it in the same
 * transaction as the sync token.
 */
import type { BasicEvent, ClientEvent, StateEvent, StrippedStateEvent } from "../api/events.js";
import type { RoomSummary } from "../api/types.js";
import type { StoreChange, StoredRoomInfo, StoredRooms } from "../storage/store.js";
import { Room, TRACKED_STATE_TYPES } from "./room.js";

/** Each tracked type's one string, shared by the events of every room. */
const SHARED_TYPES: ReadonlyMap<string, string> = new Map([...TRACKED_STATE_TYPES].map((t) => [t, t]));

/** Rooms and account data, as the bot knows them. */
export class RoomTracker {
  readonly rooms = new Map<string, Room>();
  readonly accountData = new Map<string, Record<string, unknown>>();
  #changes: StoreChange[] = [];
  readonly #extraTypes = new Set<string>();
  /**
   * Whether sync shows only some of the bot's rooms (sliding sync sends a room once it has news):
   * then a room missing from {@link rooms} may still be one the bot is in, and what a feature
   * needs about it is asked from the server instead of read as "not joined".
   */
  partial = false;

  constructor(readonly userId: string) {}

  /**
   * Also keeps state events of `type` from now on (beyond {@link TRACKED_STATE_TYPES}), for a
   * feature that needs them, e.g. published command descriptions.
   */
  trackStateType(type: string): void {
    this.#extraTypes.add(type);
  }

  /** The state types kept beyond {@link TRACKED_STATE_TYPES} ({@link trackStateType}). */
  get extraStateTypes(): ReadonlySet<string> {
    return this.#extraTypes;
  }

  /** Restores what a store remembered. */
  load(stored: StoredRooms): void {
    for (const info of stored.rooms) {
      const room = new Room(info.roomId, info.membership);
      room.summary = info.summary ?? {};
      this.rooms.set(info.roomId, room);
    }
    for (const event of stored.state) {
      const room = this.rooms.get(event.roomId);
      if (!room) continue;
      const { roomId: _roomId, ...rest } = event;
      this.#putState(room, rest);
    }
    for (const item of stored.accountData) {
      if (item.roomId === undefined) this.accountData.set(item.type, item.content);
      else this.rooms.get(item.roomId)?.accountData.set(item.type, item.content);
    }
  }

  /** Whether changes were recorded since the last {@link RoomTracker.takeChanges}. */
  get hasChanges(): boolean {
    return this.#changes.length > 0;
  }

  /** Takes the changes recorded since the last call, for the store. */
  takeChanges(): StoreChange[] {
    const changes = this.#changes;
    this.#changes = [];
    return changes;
  }

  /**
   * Puts back changes a failed store write took, ahead of anything recorded
   * since, so the next write includes them and newer values still win.
   */
  restoreChanges(changes: readonly StoreChange[]): void {
    if (changes.length > 0) this.#changes = [...changes, ...this.#changes];
  }

  /** The room with this id, creating it with a membership if new. */
  ensureRoom(roomId: string, membership: StoredRoomInfo["membership"]): Room {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new Room(roomId, membership);
      this.rooms.set(roomId, room);
      this.#recordRoom(room);
    } else if (room.membership !== membership) {
      room.membership = membership;
      this.#recordRoom(room);
    }
    return room;
  }

  /** Forgets a room the bot left, so memory follows what is in use. */
  forgetRoom(roomId: string): void {
    if (this.rooms.delete(roomId)) this.#changes.push({ kind: "room", roomId, info: undefined });
  }

  /** Applies a summary from sync; missing fields keep their last value, as the spec says. */
  applySummary(room: Room, summary: RoomSummary | undefined): void {
    if (!summary) return;
    const old = room.summary;
    const heroes = summary["m.heroes"];
    const joined = summary["m.joined_member_count"];
    const invited = summary["m.invited_member_count"];
    // Compared field by field, not as two JSON strings per room and batch (at 10 000 rooms, the
    // initial sync's cost); a hero list that is not plain strings counts as changed, harmlessly.
    if ((heroes === undefined || sameStrings(heroes, old.heroes)) && (joined === undefined || joined === old.joined) && (invited === undefined || invited === old.invited)) return;
    const next = { ...old };
    if (heroes !== undefined) next.heroes = heroes;
    if (joined !== undefined) next.joined = joined;
    if (invited !== undefined) next.invited = invited;
    room.summary = sharedSummary(next);
    this.#recordRoom(room);
  }

  /** Applies a state event (tracked types only); returns true when it was stored. */
  applyState(room: Room, event: StateEvent | StrippedStateEvent | ClientEvent): boolean {
    if (event.state_key === undefined || !(TRACKED_STATE_TYPES.has(event.type) || this.#extraTypes.has(event.type))) return false;
    if (!event.content || typeof event.content !== "object") return false;
    // Encryption cannot be turned off: a later event without an algorithm (an admin's `{}`, or a
    // redacted one) must not replace, in memory or in the store, the settings that made the room encrypted.
    if (event.type === "m.room.encryption" && room.isEncrypted && typeof event.content.algorithm !== "string") return false;
    // The same few strings in every room (the type, the bot's own id as sender and state key) are
    // kept once, not once per room as parsed: at 10 000 rooms that is megabytes.
    const stored = {
      type: SHARED_TYPES.get(event.type) ?? event.type,
      stateKey: event.state_key === this.userId ? this.userId : event.state_key,
      sender: event.sender === this.userId ? this.userId : event.sender,
      eventId: "event_id" in event ? event.event_id : "",
      content: event.content,
    };
    this.#putState(room, stored);
    this.#changes.push({ kind: "state", roomId: room.roomId, type: stored.type, stateKey: stored.stateKey, event: stored });
    return true;
  }

  /** Applies account data events, global (`room` undefined) or for a room. */
  applyAccountData(events: BasicEvent[] | undefined, room?: Room): void {
    for (const event of events ?? []) {
      if (typeof event.type !== "string" || !event.content || typeof event.content !== "object") continue;
      (room ? room.accountData : this.accountData).set(event.type, event.content);
      this.#changes.push({ kind: "accountData", roomId: room?.roomId, type: event.type, content: event.content });
    }
  }

  /** Sets global account data locally after the bot wrote it, so reads don't wait for sync. */
  setAccountData(type: string, content: Record<string, unknown>): void {
    this.accountData.set(type, content);
    this.#changes.push({ kind: "accountData", roomId: undefined, type, content });
  }

  #putState(room: Room, event: { type: string; stateKey: string; sender: string; eventId: string; content: Record<string, unknown> }): void {
    room.putState(event);
  }

  #recordRoom(room: Room): void {
    this.#changes.push({ kind: "room", roomId: room.roomId, info: { roomId: room.roomId, membership: room.membership, summary: room.summary } });
  }
}

/** An empty hero list shared by the summaries of {@link sharedSummary}. */
const NO_HEROES: string[] = Object.freeze([]) as unknown as string[];
/** Summaries without heroes by their counts: at most {@link MAX_SHARED_SUMMARIES}, so hostile counts cannot grow it. */
const SHARED_SUMMARIES = new Map<string, Room["summary"]>();
const MAX_SHARED_SUMMARIES = 256;

/**
 * One frozen object for every room with the same summary and no heroes (a bot's own rooms
 * mostly have `{ heroes: [], joined: 1, invited: 0 }`): a summary and its empty hero list
 * cost about 90 bytes per room otherwise. Summaries are replaced, never changed in place.
 */
function sharedSummary(summary: Room["summary"]): Room["summary"] {
  const { heroes, joined, invited } = summary;
  if (heroes !== undefined && !(Array.isArray(heroes) && heroes.length === 0)) return summary;
  // Counts only: a hostile non-number must not be shared under the string it prints as.
  if (!(joined === undefined || typeof joined === "number") || !(invited === undefined || typeof invited === "number")) return summary;
  // The keys in their order too: a shared summary reads back (and serializes) as the one it replaces.
  const names = Object.keys(summary) as (keyof Room["summary"])[];
  let key = "";
  for (const name of names) key += name === "heroes" ? "h " : `${name[0]}${String(summary[name])} `;
  let shared = SHARED_SUMMARIES.get(key);
  if (shared === undefined) {
    const made: Room["summary"] = {};
    for (const name of names) made[name] = name === "heroes" ? (NO_HEROES as never) : (summary[name] as never);
    shared = Object.freeze(made);
    if (SHARED_SUMMARIES.size < MAX_SHARED_SUMMARIES) SHARED_SUMMARIES.set(key, shared);
  }
  return shared;
}

/** Whether two lists hold the same strings in the same order. */
function sameStrings(a: unknown, b: readonly string[] | undefined): boolean {
  if (!Array.isArray(a) || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== "string" || a[i] !== b[i]) return false;
  return true;
}
