/**
 * Simplified sliding sync (MSC4186) answers in the `/sync` batch shape the
 * engine processes, and the token niobot stores for a sliding connection.
 * Pure functions: `sliding.ts` makes the requests.
 *
 * @module
 */
import type { BasicEvent, ClientEvent, StateEvent, StrippedStateEvent } from "../api/events.js";
import type { JoinedRoomSync, SlidingSyncResponse, SlidingSyncRoom, SyncResponse } from "../api/types.js";
import { isRecord } from "../util/record.js";
import type { RoomHint } from "./source.js";

/** What niobot stores as its sync position in sliding mode. */
export interface SlidingToken {
  /** The connection's position (`pos`). */
  pos: string;
  /** The to-device extension's `next_batch`, acknowledged with the next request. */
  toDevice?: string | undefined;
  /** The connection replaced one whose position was lost: rooms it sends first may hold news older than its start. */
  replaced?: boolean | undefined;
}

const PREFIX = "nbss1:";
/** Longest token part accepted from a store (a damaged or hostile value is not sent back as is). */
const MAX_PART = 2_000;

/** Whether a stored sync token is a sliding sync one (so `/sync` cannot use it). */
export function isSlidingToken(token: string | undefined): boolean {
  return token !== undefined && token.startsWith(PREFIX);
}

/** The token string to store. */
export function encodeSlidingToken(token: SlidingToken): string {
  return PREFIX + JSON.stringify({ pos: token.pos, ...(token.toDevice !== undefined ? { td: token.toDevice } : {}), ...(token.replaced ? { r: 1 } : {}) });
}

/** Reads a stored token; undefined when it is not a well-formed sliding token (a `/sync` one, or damaged). */
export function parseSlidingToken(token: string | undefined): SlidingToken | undefined {
  if (token === undefined || !token.startsWith(PREFIX) || token.length > 3 * MAX_PART) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(token.slice(PREFIX.length));
  } catch {
    return undefined;
  }
  if (!isRecord(value) || typeof value.pos !== "string" || value.pos === "" || value.pos.length > MAX_PART) return undefined;
  const td = typeof value.td === "string" && value.td.length <= MAX_PART ? value.td : undefined;
  return { pos: value.pos, toDevice: td, replaced: value.r === 1 };
}

/**
 * The stream token inside a Synapse `pos` (`<connection>/<stream token>`), the
 * same kind `/sync` gives: `/messages` accepts it as `to`, so a gappy timeline
 * can be back-filled exactly to the previous position. Undefined for other
 * servers' positions.
 */
export function streamTokenOf(pos: string | undefined): string | undefined {
  const match = pos === undefined ? null : /^\d{1,20}\/(s[0-9A-Za-z_.~-]{1,1000})$/.exec(pos);
  return match?.[1];
}

/** How a response is read: what the request it answers was. */
export interface SlidingMapContext {
  /** The bot's user id (its own membership decides join or leave). */
  userId: string;
  /** The request carried no `pos`: every room is sent for the first time and nothing is live. */
  newConnection: boolean;
  /** The connection replaced a lost one: a room's first appearance may hold news (see {@link RoomHint.afterHandled}). */
  replaced: boolean;
  /** The request's `pos`, for back-fills. */
  fromPos: string | undefined;
  /** Rooms the bot knows as joined (room account data for them may come without the room). */
  knownJoined(roomId: string): boolean;
}

/** A mapped response. */
export interface MappedSliding {
  response: SyncResponse;
  rooms: Map<string, RoomHint>;
  /** Rooms sent with news (live events, an invite, a leave): the window was full when this reaches its size. */
  roomsWithNews: number;
}

const events = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);

/** The bot's own latest membership in a room's state and timeline, if either holds it. */
function ownMembership(room: SlidingSyncRoom, userId: string): { membership: unknown; event: ClientEvent } | undefined {
  let found: { membership: unknown; event: ClientEvent } | undefined;
  for (const event of [...events<ClientEvent>(room.required_state), ...events<ClientEvent>(room.timeline)]) {
    if (!isRecord(event) || event.type !== "m.room.member" || event.state_key !== userId || !isRecord(event.content)) continue;
    found = { membership: event.content.membership, event };
  }
  return found;
}

/**
 * Maps one sliding sync response to a `/sync` batch: invites (rooms with
 * `invite_state`), leaves (the bot's own membership is `leave` or `ban`) and
 * joined rooms with their state, timeline, summary and room account data;
 * to-device events, device lists and key counts from the extensions. The
 * token is left to the caller (`next_batch` is empty here).
 */
export function mapSlidingResponse(body: SlidingSyncResponse, ctx: SlidingMapContext): MappedSliding {
  const join: Record<string, JoinedRoomSync> = {};
  const invite: NonNullable<NonNullable<SyncResponse["rooms"]>["invite"]> = {};
  const leave: NonNullable<NonNullable<SyncResponse["rooms"]>["leave"]> = {};
  const hints = new Map<string, RoomHint>();
  const gapTo = ctx.newConnection ? undefined : streamTokenOf(ctx.fromPos);
  let roomsWithNews = 0;
  const roomAccountData = isRecord(body.extensions?.account_data?.rooms) ? body.extensions.account_data.rooms : {};
  for (const [roomId, room] of Object.entries(isRecord(body.rooms) ? body.rooms : {})) {
    if (!isRecord(room)) continue;
    const inviteState = events<StrippedStateEvent>(room.invite_state);
    if (inviteState.length > 0) {
      invite[roomId] = { invite_state: { events: inviteState } };
      roomsWithNews++;
      continue;
    }
    const state = events<StateEvent>(room.required_state);
    const timeline = events<ClientEvent>(room.timeline);
    const own = ownMembership(room, ctx.userId);
    if (own && (own.membership === "leave" || own.membership === "ban")) {
      leave[roomId] = { state: { events: state }, timeline: { events: timeline } };
      roomsWithNews++;
      continue;
    }
    const initial = room.initial === true;
    const numLive = typeof room.num_live === "number" && room.num_live >= 0 ? Math.min(room.num_live, timeline.length) : 0;
    const history = ctx.newConnection ? timeline.length : initial ? timeline.length - numLive : 0;
    if (timeline.length - history > 0) roomsWithNews++;
    hints.set(roomId, { history, gapTo, ...(initial ? { firstSight: true } : {}), ...(initial && ctx.replaced ? { afterHandled: true } : {}) });
    const summary: JoinedRoomSync["summary"] = {};
    if (typeof room.joined_count === "number") summary["m.joined_member_count"] = room.joined_count;
    if (typeof room.invited_count === "number") summary["m.invited_member_count"] = room.invited_count;
    if (Array.isArray(room.heroes)) summary["m.heroes"] = room.heroes.filter(isRecord).map((h) => h.user_id).filter((u): u is string => typeof u === "string");
    join[roomId] = {
      summary,
      state: { events: state },
      timeline: { events: timeline, ...(typeof room.limited === "boolean" ? { limited: room.limited } : {}), ...(typeof room.prev_batch === "string" ? { prev_batch: room.prev_batch } : {}) },
      account_data: { events: events<BasicEvent>(roomAccountData[roomId]) },
    };
  }
  for (const [roomId, list] of Object.entries(roomAccountData)) {
    if (join[roomId] || !ctx.knownJoined(roomId)) continue;
    join[roomId] = { account_data: { events: events<BasicEvent>(list) } };
    hints.set(roomId, { history: 0, gapTo });
  }
  const e2ee = isRecord(body.extensions?.e2ee) ? body.extensions.e2ee : undefined;
  const response: SyncResponse = {
    next_batch: "",
    rooms: { join, invite, leave },
    account_data: { events: events<BasicEvent>(body.extensions?.account_data?.global) },
    to_device: { events: events<BasicEvent>(body.extensions?.to_device?.events) },
    ...(e2ee?.device_lists ? { device_lists: e2ee.device_lists } : {}),
    ...(e2ee?.device_one_time_keys_count ? { device_one_time_keys_count: e2ee.device_one_time_keys_count } : {}),
    ...(e2ee?.device_unused_fallback_key_types ? { device_unused_fallback_key_types: e2ee.device_unused_fallback_key_types } : {}),
  };
  return { response, rooms: hints, roomsWithNews };
}
