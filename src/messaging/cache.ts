/**
 * The message cache: the last N room events the bot saw or sent, so that
 * replies, edits and "who sent this?" checks cost no request. Edits are
 * folded in the way servers aggregate them (`unsigned["m.relations"]
 * ["m.replace"]` holds the latest edit), so a cached event and one fetched
 * from `/event` look the same.
 */
import type { ClientEvent } from "../api/events.js";
import { cloneJson } from "../util/record.js";
import { LruMap } from "./lru.js";
import { isValidEditOf } from "./relations.js";

/** Default number of events kept. */
export const DEFAULT_MESSAGE_CACHE_SIZE = 1000;

/**
 * @example
 * const cache = new MessageCache(500);
 * cache.put(event);
 * cache.get(event.room_id, event.event_id); // a copy of the event
 */
export class MessageCache {
  readonly #events: LruMap<string, ClientEvent>;

  constructor(capacity = DEFAULT_MESSAGE_CACHE_SIZE) {
    this.#events = new LruMap(capacity);
  }

  /** A copy of a cached event (copies keep callers from altering the cache), or undefined. */
  get(roomId: string, eventId: string): ClientEvent | undefined {
    const event = this.#events.get(eventId);
    return event !== undefined && event.room_id === roomId ? cloneJson(event) : undefined;
  }

  /**
   * Stores an event. A later copy of an event already cached (the sync echo
   * of one the bot sent) replaces it but keeps the edit folded in so far.
   */
  put(event: ClientEvent): void {
    const known = this.#events.peek(event.event_id);
    let copy: ClientEvent;
    try {
      copy = cloneJson(event);
    } catch {
      // Nested deeper than a copy can go (JSON.parse reads what no copy can): not cached, not fatal.
      this.#events.delete(event.event_id);
      return;
    }
    const edit = known?.unsigned?.["m.relations"]?.["m.replace"];
    if (edit !== undefined && copy.unsigned?.["m.relations"]?.["m.replace"] === undefined) {
      copy.unsigned = { ...copy.unsigned, "m.relations": { ...copy.unsigned?.["m.relations"], "m.replace": edit } };
    }
    this.#events.set(event.event_id, copy);
  }

  /**
   * Folds an edit into its cached original when it is valid and newer than
   * the edit known so far (the spec's order: `origin_server_ts`, then the
   * larger event id). Returns false when the original is cached and the edit
   * is invalid for it, so callers can drop forged edits; true otherwise.
   */
  applyEdit(originalEventId: string, edit: ClientEvent): boolean {
    const original = this.#events.peek(originalEventId);
    if (original === undefined) return true;
    if (!isValidEditOf(edit, original)) return false;
    const previous = original.unsigned?.["m.relations"]?.["m.replace"] as ClientEvent | undefined;
    const newer = previous === undefined || edit.origin_server_ts > previous.origin_server_ts ||
      (edit.origin_server_ts === previous.origin_server_ts && edit.event_id > previous.event_id);
    if (newer) {
      original.unsigned = { ...original.unsigned, "m.relations": { ...original.unsigned?.["m.relations"], "m.replace": cloneJson(edit) } };
    }
    return true;
  }

  /** The cached event without copying or touching its recency (internal reads). */
  peek(eventId: string): ClientEvent | undefined {
    return this.#events.peek(eventId);
  }

  /** Forgets an event (it was redacted: the next fetch shows the server's redacted copy). */
  delete(eventId: string): void {
    this.#events.delete(eventId);
  }

  clear(): void {
    this.#events.clear();
  }

  /** Number of cached events. */
  get size(): number {
    return this.#events.size;
  }

  /** Most events kept. */
  get capacity(): number {
    return this.#events.capacity;
  }
}
