/**
 * Pure rules deciding whether a room can serve as the bot's direct room with
 * one user. `m.direct` only says what some client once recorded; these rules
 * look at who is actually in the room.
 *
 * A room is a usable DM with `userId` when the bot is joined, the user is
 * joined or invited, nobody else is joined or invited, and the room was not
 * replaced by an upgrade (a tombstone is followed by the caller instead).
 *
 * Local state from sync decides when it is authoritative; otherwise the
 * verdict is `unknown` and the caller asks the server. Anything odd (counts
 * that disagree with a loaded member event, a member not loaded because of
 * lazy loading) is `unknown`, never `invalid`: a wrong `invalid` would create
 * a duplicate room, a wrong `unknown` costs one request.
 *
 * @module
 */
import type { Membership } from "../api/events.js";
import type { Room } from "../sync/room.js";

/** The outcome of checking one candidate room for one user. */
export type DmVerdict =
  | { kind: "valid" }
  | { kind: "invalid"; reason: string }
  | { kind: "unknown"; reason: string }
  | { kind: "tombstoned"; replacement: string };

/** What local state says about a room, as far as a DM check needs it. */
export interface DmSnapshot {
  /** The bot's own membership (undefined when the room is not known). */
  botMembership: Membership | undefined;
  /** The user's membership, undefined when the member event is not loaded. */
  userMembership: Membership | undefined;
  /** Joined members, from the sync summary (authoritative even with lazy loading). */
  joined?: number | undefined;
  /** Invited members, from the sync summary. */
  invited?: number | undefined;
  /** The room this one was upgraded to. */
  replacementRoom?: string | undefined;
}

const VALID: DmVerdict = { kind: "valid" };
const invalid = (reason: string): DmVerdict => ({ kind: "invalid", reason });
const unknown = (reason: string): DmVerdict => ({ kind: "unknown", reason });

/** The snapshot of a tracked room (or of no room) for a DM check. */
export function snapshotOf(room: Room | undefined, userId: string): DmSnapshot {
  return {
    botMembership: room?.membership,
    userMembership: room?.member(userId)?.membership,
    joined: room?.summary.joined,
    invited: room?.summary.invited,
    replacementRoom: room?.tombstone?.replacement_room,
  };
}

/**
 * Judges a room from local state alone.
 *
 * @example
 * localVerdict({ botMembership: "join", userMembership: "invite", joined: 1, invited: 1 }) // { kind: "valid" }
 * localVerdict({ botMembership: "join", userMembership: "leave", joined: 1, invited: 0 }) // invalid
 * localVerdict({ botMembership: "join", userMembership: undefined, joined: 2, invited: 0 }) // unknown
 */
export function localVerdict(s: DmSnapshot): DmVerdict {
  if (s.botMembership !== "join") return invalid("the bot is not joined");
  if (s.replacementRoom) return { kind: "tombstoned", replacement: s.replacementRoom };
  const { joined, invited } = s;
  if (joined === undefined || invited === undefined) return unknown("no member counts");
  if (joined < 1) return unknown("member counts disagree with the bot's membership");
  if (joined + invited !== 2) return invalid(`${joined} joined and ${invited} invited members, not two`);
  switch (s.userMembership) {
    case "join":
      return joined === 2 ? VALID : unknown("the user's member event disagrees with the counts");
    case "invite":
      return invited === 1 ? VALID : unknown("the user's member event disagrees with the counts");
    case undefined:
      return unknown("the user's member event is not loaded");
    default:
      // Two members but the user not among them, or a re-join this sync did not carry.
      return unknown(`the user's loaded membership is ${s.userMembership} but the room has two members`);
  }
}

/** A member event as `/members` returns it (only the fields the check reads). */
export interface MemberStateLike {
  state_key?: string;
  content: { membership?: unknown };
}

/**
 * Judges a room from the server's member list (`GET /members`), which is
 * authoritative: the answer is never `unknown`.
 *
 * @example
 * membersVerdict("@bot:x", "@u:x", [
 *   { state_key: "@bot:x", content: { membership: "join" } },
 *   { state_key: "@u:x", content: { membership: "invite" } },
 * ]) // { kind: "valid" }
 */
export function membersVerdict(botId: string, userId: string, events: readonly MemberStateLike[]): DmVerdict {
  const membership = new Map<string, unknown>();
  for (const event of events) if (typeof event.state_key === "string") membership.set(event.state_key, event.content.membership);
  if (membership.get(botId) !== "join") return invalid("the bot is not joined");
  const user = membership.get(userId);
  if (user !== "join" && user !== "invite") return invalid("the user is not joined or invited");
  const present = [...membership.values()].filter((m) => m === "join" || m === "invite").length;
  return present === 2 ? VALID : invalid(`${present} joined or invited members, not two`);
}

/**
 * A short fingerprint of everything in local state that a DM verdict depends
 * on. A verdict the server gave stays good while the fingerprint is unchanged,
 * because every membership change reaches sync as a member event or a new
 * summary count.
 */
export function fingerprintOf(room: Room): string {
  const members = room
    .members()
    .map((m) => `${m.userId}=${m.membership}`)
    .sort()
    .join(",");
  const s = room.summary;
  return `${room.membership}|${s.joined ?? "-"}|${s.invited ?? "-"}|${room.tombstone?.replacement_room ?? ""}|${members}`;
}

/**
 * A valid DM the bot created for `userId` that `m.direct` may not list: the
 * bot's own `is_direct` invite is still pending. Left behind by a crash
 * between creating and recording, or by a lost `createRoom` response.
 */
export function findOrphanDm(rooms: Iterable<Room>, botId: string, userId: string): string | undefined {
  for (const room of rooms) {
    const member = room.member(userId);
    if (member?.membership !== "invite" || !member.isDirect || member.sender !== botId) continue;
    if (localVerdict(snapshotOf(room, userId)).kind === "valid") return room.roomId;
  }
  return undefined;
}

/**
 * The order candidate rooms are tried in: the most recently recorded first,
 * since rooms are appended when created and older ones are likelier dead.
 */
export function candidateOrder(rooms: readonly string[]): string[] {
  return [...rooms].reverse();
}
