/**
 * Remembers the bot's own reaction events, so removing a reaction (redacting
 * the bot's `m.reaction`) needs no lookup; when the id is not known (sent
 * by an earlier run, or evicted), it is found through `/relations`.
 */
import type { MatrixApi } from "../api/client.js";
import { LruMap } from "./lru.js";

function slot(roomId: string, targetEventId: string, key: string): string {
  return `${roomId}\n${targetEventId}\n${key}`;
}

/** Own reaction event ids by (room, annotated event, key). */
export class OwnReactions {
  readonly #ids: LruMap<string, string>;
  /** Reaction event id → its slot, to forget a reaction when it is redacted. */
  readonly #slots: LruMap<string, string>;
  /** Reactions already redacted: a late sync echo of one must not bring it back. */
  readonly #gone: LruMap<string, true>;

  constructor(capacity = 10_000) {
    this.#ids = new LruMap(capacity);
    this.#slots = new LruMap(capacity);
    this.#gone = new LruMap(capacity);
  }

  remember(roomId: string, targetEventId: string, key: string, reactionEventId: string): void {
    if (this.#gone.has(reactionEventId)) return;
    const s = slot(roomId, targetEventId, key);
    this.#ids.set(s, reactionEventId);
    this.#slots.set(reactionEventId, s);
  }

  get(roomId: string, targetEventId: string, key: string): string | undefined {
    return this.#ids.get(slot(roomId, targetEventId, key));
  }

  /** Forgets a reaction event (it was redacted). */
  forgetEvent(reactionEventId: string): void {
    this.#gone.set(reactionEventId, true);
    const s = this.#slots.peek(reactionEventId);
    if (s === undefined) return;
    this.#slots.delete(reactionEventId);
    if (this.#ids.peek(s) === reactionEventId) this.#ids.delete(s);
  }
}

/**
 * Finds `sender`'s `m.reaction` with `key` on an event through `GET
 * /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/m.annotation/m.reaction`,
 * newest first, reading at most `maxPages` pages.
 */
export async function findReaction(
  api: MatrixApi,
  roomId: string,
  targetEventId: string,
  key: string,
  sender: string,
  maxPages = 10,
): Promise<string | undefined> {
  let from: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const response = await api.rooms.relations(roomId, targetEventId, "m.annotation", "m.reaction", { limit: 100, ...(from ? { from } : {}) });
    for (const event of response.chunk) {
      const rel = (event.content as { "m.relates_to"?: { key?: unknown } })["m.relates_to"];
      if (event.sender === sender && rel?.key === key) return event.event_id;
    }
    from = response.next_batch;
    if (from === undefined || response.chunk.length === 0) return undefined;
  }
  return undefined;
}
