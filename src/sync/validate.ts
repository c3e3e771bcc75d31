/**
 * Shape checks of a `/sync` response before the engine queues it: a server
 * (or a proxy, or a bug) can send `null` where an event belongs, and one such
 * entry must not stop the sync position from being saved. Malformed entries
 * are dropped, the rest is kept.
 *
 * @module
 */
import type { JoinedRoomSync, SyncResponse } from "../api/types.js";
import { isRecord } from "../util/record.js";

/** What {@link sanitizeSyncResponse} dropped: a path per entry (the first few). */
export interface SanitizeReport {
  dropped: number;
  paths: string[];
}

const MAX_REPORTED_PATHS = 10;

type Check = (event: Record<string, unknown>) => boolean;

/** `type` and an object `content`: what every event has. */
const basic: Check = (e) => typeof e.type === "string" && isRecord(e.content);
/** A stripped state event (invites). */
const stripped: Check = (e) => basic(e) && typeof e.state_key === "string" && typeof e.sender === "string";
/** A room event: what dispatching and deduplication read. */
const roomEvent: Check = (e) =>
  basic(e) &&
  typeof e.event_id === "string" &&
  typeof e.sender === "string" &&
  typeof e.origin_server_ts === "number" &&
  (e.state_key === undefined || typeof e.state_key === "string");
/** A state event. */
const stateEvent: Check = (e) => roomEvent(e) && typeof e.state_key === "string";

/** Counts a dropped entry, keeping the first few paths. */
function drop(report: SanitizeReport, path: string): void {
  report.dropped++;
  if (report.paths.length < MAX_REPORTED_PATHS) report.paths.push(path);
}

// Paths are built only for what is dropped: a clean batch (nearly every one) makes no strings
// and no copies of its event lists. `at` is the holder's path ("" at the top).
function pathOf(at: string, key: string): string {
  return at === "" ? key : `${at}.${key}`;
}

/** Keeps `holder[key]` an object (or absent). */
function object(report: SanitizeReport, holder: Record<string, unknown>, key: string, at: string): Record<string, unknown> | undefined {
  const value = holder[key];
  if (value === undefined) return undefined;
  if (isRecord(value)) return value;
  drop(report, pathOf(at, key));
  delete holder[key];
  return undefined;
}

/** Keeps `holder[key].events` an array of events that pass `check`. */
function events(report: SanitizeReport, holder: Record<string, unknown>, key: string, at: string, check: Check): void {
  const section = object(report, holder, key, at);
  if (!section || section.events === undefined) return;
  if (!Array.isArray(section.events)) {
    drop(report, `${pathOf(at, key)}.events`);
    section.events = [];
    return;
  }
  const list = section.events as unknown[];
  let kept: unknown[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const event = list[i];
    if (isRecord(event) && check(event)) {
      kept?.push(event);
      continue;
    }
    drop(report, `${pathOf(at, key)}.events[${i}]`);
    kept ??= list.slice(0, i);
  }
  if (kept) section.events = kept;
}

function timeline(report: SanitizeReport, room: Record<string, unknown>, at: string): void {
  events(report, room, "timeline", at, roomEvent);
  const t = room.timeline as Record<string, unknown> | undefined;
  if (t?.limited !== undefined && typeof t.limited !== "boolean") {
    drop(report, `${at}.timeline.limited`);
    delete t.limited;
  }
  if (t?.prev_batch !== undefined && typeof t.prev_batch !== "string") {
    drop(report, `${at}.timeline.prev_batch`);
    delete t.prev_batch;
  }
}

function joinedRoom(report: SanitizeReport, room: Record<string, unknown>, path: string): void {
  object(report, room, "summary", path);
  events(report, room, "state", path, stateEvent);
  timeline(report, room, path);
  events(report, room, "account_data", path, basic);
  events(report, room, "ephemeral", path, basic);
}

/**
 * Checks one member of `rooms.join` on its own, as {@link sanitizeSyncResponse} does (for a room
 * taken while the body is read): drops its malformed entries in place, adding them to `report`.
 * Returns false when the room as a whole is malformed (a room id without `!`, not an object): it
 * is then counted as dropped and must not be applied.
 */
export function sanitizeJoinedRoom(roomId: string, room: unknown, report: SanitizeReport): room is JoinedRoomSync {
  const path = `rooms.join.${roomId}`;
  if (!roomId.startsWith("!") || !isRecord(room)) {
    drop(report, path);
    return false;
  }
  joinedRoom(report, room, path);
  return true;
}

/**
 * Drops malformed entries of a sync response in place and says what went.
 * Throws only when the response has no `next_batch`: without it there is no
 * position to move to, and the request is simply made again. `report` may
 * already hold what was dropped from rooms taken while the body was read.
 */
export function sanitizeSyncResponse(response: SyncResponse, report: SanitizeReport = { dropped: 0, paths: [] }): SanitizeReport {
  if (!isRecord(response) || typeof response.next_batch !== "string") throw new TypeError("sync response without a next_batch token");
  /** Each entry of `rooms[section]` must be an object; `each` checks its parts. */
  const rooms = (section: string, each: (room: Record<string, unknown>, path: string) => void): void => {
    const all = response.rooms as Record<string, unknown> | undefined;
    const map = all && object(report, all, section, "rooms");
    if (!map) return;
    for (const roomId in map) {
      if (!Object.hasOwn(map, roomId)) continue;
      const room = map[roomId];
      const path = `rooms.${section}.${roomId}`;
      if (!roomId.startsWith("!") || !isRecord(room)) {
        drop(report, path);
        delete map[roomId];
        continue;
      }
      each(room, path);
    }
  };

  const top = response as unknown as Record<string, unknown>;
  events(report, top, "account_data", "", basic);
  object(report, top, "rooms", "");
  rooms("invite", (room, path) => events(report, room, "invite_state", path, stripped));
  rooms("join", (room, path) => joinedRoom(report, room, path));
  rooms("leave", (room, path) => {
    events(report, room, "state", path, stateEvent);
    timeline(report, room, path);
    events(report, room, "account_data", path, basic);
  });
  return report;
}
