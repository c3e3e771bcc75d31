/**
 * Pure helpers for the `m.direct` account data event (spec "Direct
 * Messaging"): user ID → list of DM room IDs.
 *
 * Account data is shared with every other client of the account, so what we
 * read may contain anything: entries written by buggy clients, non-array
 * values, keys we don't understand. The update helpers are read-merge-write:
 * they change only the one list they are asked to change and copy every other
 * key verbatim, so the bot never destroys another client's data.
 *
 * @module
 */
import { isRecord } from "../util/record.js";

/** The well-formed shape of `m.direct` content. */
export type DirectContent = Record<string, string[]>;

/** Result of an update: the content to write back, and whether writing is needed. */
export interface DirectUpdate {
  content: Record<string, unknown>;
  changed: boolean;
}

/**
 * Sets an own property even for keys like `__proto__`, which JSON.parse can
 * produce as own keys but plain assignment would treat as the prototype.
 */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Shallow copy keeping every own enumerable key (including `__proto__`). */
function copy(raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (isRecord(raw)) for (const [key, value] of Object.entries(raw)) setOwn(out, key, value);
  return out;
}

/** String entries of a list, deduplicated, first occurrence kept; junk → []. */
function roomList(value: unknown): string[] {
  return Array.isArray(value) ? [...new Set(value.filter((v): v is string => typeof v === "string"))] : [];
}

/**
 * Reads `m.direct` content tolerantly: keys that aren't user IDs (the schema
 * requires a leading `@`) and non-array values are skipped, non-string list
 * entries dropped, duplicates removed.
 *
 * @example
 * parseDirect({ "@bob:x.org": ["!a:x.org", 5, "!a:x.org"], junk: true }) // { "@bob:x.org": ["!a:x.org"] }
 */
export function parseDirect(raw: unknown): DirectContent {
  const out: DirectContent = {};
  if (!isRecord(raw)) return out;
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith("@") && Array.isArray(value)) out[key] = roomList(value);
  }
  return out;
}

/**
 * Marks `roomId` as a DM with `userId`, appending it to that user's list (order
 * kept). Every other key — other users, unknown keys, junk — is kept verbatim.
 * When the room is already listed, `changed` is false and the content is an
 * unmodified copy, so callers can skip the write. When it is added, that
 * user's list is rewritten clean (string entries only, no duplicates).
 *
 * @example
 * addDirectRoom({ "@bob:x.org": ["!a:x.org"] }, "@bob:x.org", "!b:x.org")
 * // { content: { "@bob:x.org": ["!a:x.org", "!b:x.org"] }, changed: true }
 */
export function addDirectRoom(current: unknown, userId: string, roomId: string): DirectUpdate {
  const content = copy(current);
  const existing = content[userId];
  if (Array.isArray(existing) && existing.includes(roomId)) return { content, changed: false };
  setOwn(content, userId, [...roomList(existing), roomId]);
  return { content, changed: true };
}

/**
 * Removes `roomId` from `userId`'s DM list; the key is deleted when the list
 * ends up empty. Everything else is kept verbatim; `changed` is false (and
 * the content an unmodified copy) when the room wasn't listed.
 *
 * @example
 * removeDirectRoom({ "@bob:x.org": ["!a:x.org"], other: 1 }, "@bob:x.org", "!a:x.org")
 * // { content: { other: 1 }, changed: true }
 */
export function removeDirectRoom(current: unknown, userId: string, roomId: string): DirectUpdate {
  const content = copy(current);
  const existing = content[userId];
  if (!Array.isArray(existing) || !existing.includes(roomId)) return { content, changed: false };
  const rest = roomList(existing).filter((id) => id !== roomId);
  if (rest.length === 0) delete content[userId];
  else setOwn(content, userId, rest);
  return { content, changed: true };
}

/**
 * Removes `roomId` from every user's list (e.g. after leaving the room, when
 * the partner isn't known). Same guarantees as {@link removeDirectRoom}.
 */
export function forgetDirectRoom(current: unknown, roomId: string): DirectUpdate {
  let result: DirectUpdate = { content: copy(current), changed: false };
  // Only user keys: unknown keys are never ours to edit.
  for (const userId of Object.keys(result.content).filter((key) => key.startsWith("@"))) {
    const next = removeDirectRoom(result.content, userId, roomId);
    if (next.changed) result = next;
  }
  return result;
}

/**
 * DM rooms recorded for `userId`, in stored order.
 *
 * @example
 * directRoomsFor(accountData, "@bob:x.org") // ["!a:x.org"]
 */
export function directRoomsFor(raw: unknown, userId: string): string[] {
  return parseDirect(raw)[userId] ?? [];
}

/** Users for whom `roomId` is recorded as a DM (usually zero or one). */
export function directPartnersOf(raw: unknown, roomId: string): string[] {
  return Object.entries(parseDirect(raw))
    .filter(([, rooms]) => rooms.includes(roomId))
    .map(([userId]) => userId);
}
