/**
 * One room's tracked state events in the least memory that still finds them fast: a plain
 * array of records while the room has a few (nearly every room: create, the bot's membership,
 * power levels, join rules), a map once it has more (a room with many loaded members).
 *
 * A map costs about 230 bytes even for four entries (the map and its hash table) and needs a
 * key string per event built from type and state key; an exactly sized array of four costs
 * about 64, with no keys. The room tracker and the memory store each keep one of these per
 * room, so at 10 000 rooms the difference is several megabytes.
 *
 * @module
 */
import { stateRecordKey, type StoredStateEvent } from "./store.js";

/** A room's state records: an array while small, a map keyed by {@link stateRecordKey} beyond. */
export type StateSlots = readonly StoredStateEvent[] | Map<string, StoredStateEvent>;

/** Records kept in an array before it becomes a map: a linear scan of this many is cheaper than hashing. */
export const SMALL_STATE = 8;

/** The record of `type` and `stateKey`, if any. */
export function slotGet(slots: StateSlots | undefined, type: string, stateKey: string): StoredStateEvent | undefined {
  if (slots === undefined) return undefined;
  if (slots instanceof Map) return slots.get(stateRecordKey(type, stateKey));
  for (const event of slots) if (event.type === type && event.stateKey === stateKey) return event;
  return undefined;
}

/**
 * Puts `event` in place of the record with its type and state key; returns the slots to keep
 * (a new array, or a map once past {@link SMALL_STATE}: the caller stores the result).
 */
export function slotPut(slots: StateSlots | undefined, event: StoredStateEvent): StateSlots {
  if (slots instanceof Map) return slots.set(stateRecordKey(event.type, event.stateKey), event);
  if (slots === undefined) return [event];
  const at = slots.findIndex((e) => e.type === event.type && e.stateKey === event.stateKey);
  if (at >= 0) {
    // Copies of the exact size (slice, concat): an array grown by push or spread gets 16 spare slots.
    const copy = slots.slice();
    copy[at] = event;
    return copy;
  }
  if (slots.length < SMALL_STATE) return slots.concat([event]);
  const map = new Map<string, StoredStateEvent>();
  for (const e of slots) map.set(stateRecordKey(e.type, e.stateKey), e);
  return map.set(stateRecordKey(event.type, event.stateKey), event);
}

/** Removes the record of `type` and `stateKey`; returns the slots to keep (undefined when empty). */
export function slotDelete(slots: StateSlots | undefined, type: string, stateKey: string): StateSlots | undefined {
  if (slots === undefined) return undefined;
  if (slots instanceof Map) {
    slots.delete(stateRecordKey(type, stateKey));
    return slots;
  }
  const rest = slots.filter((e) => !(e.type === type && e.stateKey === stateKey));
  return rest.length === 0 ? undefined : rest;
}

/** Every record, in no particular order. */
export function slotValues(slots: StateSlots | undefined): Iterable<StoredStateEvent> {
  if (slots === undefined) return [];
  return slots instanceof Map ? slots.values() : slots;
}
