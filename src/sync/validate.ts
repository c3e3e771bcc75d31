/**
 * Shape checks of a `/sync` response before the engine queues it: a server
 * (or a proxy, or a bug) can send `null` where an event belongs, and one such
 * entry must not stop the sync position from being saved. Malformed entries
 * are dropped, the rest is kept.
 *
 * @module
 */
import type { SyncResponse } from "../api/types.js";
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

/**
 * Drops malformed entries of a sync response in place and says what went.
 * Throws only when the response has no `next_batch`: without it there is no
 * position to move to, and the request is simply made again.
 */
export function sanitizeSyncResponse(response: SyncResponse): SanitizeReport {
  if (!isRecord(response) || typeof response.next_batch !== "string") throw new TypeError("sync response without a next_batch token");
  const report: SanitizeReport = { dropped: 0, paths: [] };
  const drop = (path: string): void => {
    report.dropped++;
    if (report.paths.length < MAX_REPORTED_PATHS) report.paths.push(path);
  };
  // Paths are built only for what is dropped: a clean batch (nearly every one) makes no strings
  // and no copies of its event lists. `at` is the holder's path ("" at the top).
  const pathOf = (at: string, key: string): string => (at === "" ? key : `${at}.${key}`);
  /** Keeps `holder[key]` an object (or absent). */
  const object = (holder: Record<string, unknown>, key: string, at: string): Record<string, unknown> | undefined => {
    const value = holder[key];
    if (value === undefined) return undefined;
    if (isRecord(value)) return value;
    drop(pathOf(at, key));
    delete holder[key];
    return undefined;
  };
  /** Keeps `holder[key].events` an array of events that pass `check`. */
  const events = (holder: Record<string, unknown>, key: string, at: string, check: Check): void => {
    const section = object(holder, key, at);
    if (!section || section.events === undefined) return;
    if (!Array.isArray(section.events)) {
      drop(`${pathOf(at, key)}.events`);
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
      drop(`${pathOf(at, key)}.events[${i}]`);
      kept ??= list.slice(0, i);
    }
    if (kept) section.events = kept;
  };
  const timeline = (room: Record<string, unknown>, at: string): void => {
    events(room, "timeline", at, roomEvent);
    const t = room.timeline as Record<string, unknown> | undefined;
    if (t?.limited !== undefined && typeof t.limited !== "boolean") {
      drop(`${at}.timeline.limited`);
      delete t.limited;
    }
    if (t?.prev_batch !== undefined && typeof t.prev_batch !== "string") {
      drop(`${at}.timeline.prev_batch`);
      delete t.prev_batch;
    }
  };
  /** Each entry of `rooms[section]` must be an object; `each` checks its parts. */
  const rooms = (section: string, each: (room: Record<string, unknown>, path: string) => void): void => {
    const all = response.rooms as Record<string, unknown> | undefined;
    const map = all && object(all, section, "rooms");
    if (!map) return;
    for (const roomId in map) {
      if (!Object.hasOwn(map, roomId)) continue;
      const room = map[roomId];
      const path = `rooms.${section}.${roomId}`;
      if (!roomId.startsWith("!") || !isRecord(room)) {
        drop(path);
        delete map[roomId];
        continue;
      }
      each(room, path);
    }
  };

  const top = response as unknown as Record<string, unknown>;
  events(top, "account_data", "", basic);
  object(top, "rooms", "");
  rooms("invite", (room, path) => events(room, "invite_state", path, stripped));
  rooms("join", (room, path) => {
    object(room, "summary", path);
    events(room, "state", path, stateEvent);
    timeline(room, path);
    events(room, "account_data", path, basic);
    events(room, "ephemeral", path, basic);
  });
  rooms("leave", (room, path) => {
    events(room, "state", path, stateEvent);
    timeline(room, path);
    events(room, "account_data", path, basic);
  });
  return report;
}
