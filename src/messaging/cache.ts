/**
 * The message cache: the last N room events the bot saw or sent, so that
 * replies, edits and "who sent this?" checks cost no request. Edits are
 * folded in the way servers aggregate them (`unsigned["m.relations"]
 * ["m.replace"]` holds the latest edit), so a cached event and one fetched
 * from `/event` look the same.
 */
import type { ClientEvent } from "../api/events.js";
import { LruMap } from "./lru.js";
import { isValidEditOf } from "./relations.js";

/** Default number of events kept. */
export const DEFAULT_MESSAGE_CACHE_SIZE = 1000;

/**
 * Default bound on the cache's total size, counted in characters of the events' JSON: 1000
 * ordinary messages take about half a megabyte, but an event may be up to 64 KiB, so the count
 * alone would allow 64 MB.
 */
export const DEFAULT_MESSAGE_CACHE_CHARS = 4 * 1024 * 1024;

/**
 * Events are kept as their JSON text: its length bounds the cache in size, not only in count (a
 * room full of 64 KiB messages no longer fills 64 MB), every read is a fresh copy by construction,
 * and the garbage collector moves one string instead of a dozen objects when a cached event is
 * promoted. On the heap an ordinary message costs about the same either way (about 580 bytes).
 *
 * @example
 * const cache = new MessageCache(500);
 * cache.put(event);
 * cache.get(event.room_id, event.event_id); // a copy of the event
 */
export class MessageCache {
  readonly #events: LruMap<string, string>;
  #chars = 0;

  /**
   * @param capacity - most events kept.
   * @param maxChars - most characters of JSON kept over all events; an event larger than this is not cached.
   */
  constructor(capacity = DEFAULT_MESSAGE_CACHE_SIZE, readonly maxChars = DEFAULT_MESSAGE_CACHE_CHARS) {
    this.#events = new LruMap(capacity);
  }

  /** A copy of a cached event (copies keep callers from altering the cache), or undefined. */
  get(roomId: string, eventId: string): ClientEvent | undefined {
    const json = this.#events.get(eventId);
    if (json === undefined) return undefined;
    const event = JSON.parse(json) as ClientEvent;
    return event.room_id === roomId ? event : undefined;
  }

  /**
   * Stores an event. A later copy of an event already cached (the sync echo
   * of one the bot sent) replaces it but keeps the edit folded in so far.
   */
  put(event: ClientEvent): void {
    const known = this.#events.peek(event.event_id);
    let json: string;
    try {
      // Most events carry no edit: the cached copy is parsed only to carry one over.
      const edit = known?.includes('"m.replace"') === true ? (JSON.parse(known) as ClientEvent).unsigned?.["m.relations"]?.["m.replace"] : undefined;
      json = JSON.stringify(
        edit !== undefined && event.unsigned?.["m.relations"]?.["m.replace"] === undefined
          ? { ...event, unsigned: { ...event.unsigned, "m.relations": { ...event.unsigned?.["m.relations"], "m.replace": edit } } }
          : event,
      );
    } catch {
      // Nested deeper than JSON.stringify goes (JSON.parse reads what it cannot write): not cached, not fatal.
      this.delete(event.event_id);
      return;
    }
    this.#store(event.event_id, json);
  }

  /**
   * Folds an edit into its cached original when it is valid and newer than
   * the edit known so far (the spec's order: `origin_server_ts`, then the
   * larger event id). Returns false when the original is cached and the edit
   * is invalid for it, so callers can drop forged edits; true otherwise.
   */
  applyEdit(originalEventId: string, edit: ClientEvent): boolean {
    const original = this.peek(originalEventId);
    if (original === undefined) return true;
    if (!isValidEditOf(edit, original)) return false;
    const previous = original.unsigned?.["m.relations"]?.["m.replace"] as ClientEvent | undefined;
    const newer = previous === undefined || edit.origin_server_ts > previous.origin_server_ts ||
      (edit.origin_server_ts === previous.origin_server_ts && edit.event_id > previous.event_id);
    if (newer) {
      original.unsigned = { ...original.unsigned, "m.relations": { ...original.unsigned?.["m.relations"], "m.replace": edit } };
      let json: string;
      try {
        json = JSON.stringify(original);
      } catch {
        return true;
      }
      // In place: folding an edit in does not make the original recently used.
      this.#chars += json.length - (this.#events.peek(originalEventId)?.length ?? 0);
      this.#events.replace(originalEventId, json);
      this.#trim(undefined);
    }
    return true;
  }

  /** A copy of the cached event, without touching its recency (internal reads). */
  peek(eventId: string): ClientEvent | undefined {
    const json = this.#events.peek(eventId);
    return json === undefined ? undefined : (JSON.parse(json) as ClientEvent);
  }

  /** Whether an event is cached, without touching its recency. */
  has(eventId: string): boolean {
    return this.#events.has(eventId);
  }

  /** Forgets an event (it was redacted: the next fetch shows the server's redacted copy). */
  delete(eventId: string): void {
    const json = this.#events.peek(eventId);
    if (json === undefined) return;
    this.#chars -= json.length;
    this.#events.delete(eventId);
  }

  clear(): void {
    this.#events.clear();
    this.#chars = 0;
  }

  /** Number of cached events. */
  get size(): number {
    return this.#events.size;
  }

  /** Most events kept. */
  get capacity(): number {
    return this.#events.capacity;
  }

  /** Characters of JSON held now (bounded by {@link MessageCache.maxChars}). */
  get chars(): number {
    return this.#chars;
  }

  #store(eventId: string, json: string): void {
    this.delete(eventId);
    if (json.length > this.maxChars || this.#events.capacity === 0) return;
    this.#chars += json.length;
    // Room first, so that the map's own count bound never drops an entry behind this count's back.
    while (this.#events.size >= this.#events.capacity) this.#evictOldest();
    this.#events.set(eventId, json);
    this.#trim(eventId);
  }

  /** Drops the least recently used events until the characters fit (never `keep`, the one just stored). */
  #trim(keep: string | undefined): void {
    while (this.#chars > this.maxChars && this.#events.size > (keep === undefined ? 0 : 1)) this.#evictOldest();
  }

  #evictOldest(): void {
    const oldest = this.#events.shift();
    if (oldest !== undefined) this.#chars -= oldest[1].length;
  }
}
