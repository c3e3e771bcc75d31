/**
 * Simplified sliding sync (MSC4186, Synapse's
 * `org.matrix.simplified_msc3575` endpoint) as a source for the sync engine:
 * the bot answers its first command without a full initial `/sync` of every
 * room, and the engine's guarantees (token after handlers, dedupe, no history
 * as news, back-fill) stay the same.
 *
 * What it asks for: one list of the bot's rooms (joined and invited), which
 * the server orders by recency, with the state the bot tracks
 * (`TRACKED_STATE_TYPES` plus `$LAZY`/`$ME` members), a small timeline, and
 * the account data, to-device and e2ee extensions.
 *
 * The window: the first request covers the {@link DEFAULT_SLIDING_WINDOW} most
 * recent rooms, so the first answer is small; each later request widens it by
 * {@link DEFAULT_SLIDING_GROW_BY} without waiting (the rooms it reaches arrive
 * as `initial`, their timelines history) until it covers every room; from then
 * on it long-polls and every room with news is sent. A room with new messages
 * moves to the top, so it is in the window even while the window grows. When
 * more rooms have news than the window holds, the answer is not processed: the
 * same position is asked again with a window twice as large, so no room is
 * starved and its news is still measured from the same position.
 *
 * An unknown position (`M_UNKNOWN_POS`: the server expired the connection)
 * starts a new connection. Its rooms come `initial` with nothing marked live,
 * so a room's events after the newest one the bot already handled are news,
 * and the rest history (see {@link RoomHint.afterHandled}).
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { SlidingSyncRequest } from "../api/types.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { TRACKED_STATE_TYPES } from "./room.js";
import { encodeSlidingToken, mapSlidingResponse, parseSlidingToken } from "./sliding-map.js";
import type { SourceBatch, SyncSource } from "./source.js";

/** Rooms in the first request's window. */
export const DEFAULT_SLIDING_WINDOW = 20;
/**
 * Rooms added to the window per request until it covers every room. Small on
 * purpose: a command waits for the growing request in flight and the next one,
 * and the server's time for one grows with the rooms it sends for the first
 * time (500 per step made a first answer wait 53 s at 1500 rooms on a loaded server).
 */
export const DEFAULT_SLIDING_GROW_BY = 100;
/** Timeline events per room and response (more is back-filled from `/messages`). */
export const DEFAULT_SLIDING_TIMELINE_LIMIT = 10;
/** The connection id niobot uses, so another client of the same device does not share its position. */
export const SLIDING_CONN_ID = "niobot";
const LIST = "rooms";

/** Options of a {@link SlidingSyncSource}. */
export interface SlidingSyncSourceOptions {
  api: MatrixApi;
  userId: string;
  /** Ask for to-device messages and the e2ee extension (device lists, key counts). */
  encryption: boolean;
  /** State types to request beyond the tracked ones (e.g. `RoomTracker.extraStateTypes`), read at each request. */
  extraStateTypes?: () => Iterable<string>;
  /** Whether the bot knows a room as joined (for room account data of a room the answer does not carry). */
  knownJoined?: (roomId: string) => boolean;
  logger?: Logger;
  /** See {@link DEFAULT_SLIDING_WINDOW}. */
  window?: number;
  /** See {@link DEFAULT_SLIDING_GROW_BY}; 0 keeps the window at its size (tests of a full window). */
  growBy?: number;
  timelineLimit?: number;
}

/** Simplified sliding sync as a {@link SyncSource}. */
export class SlidingSyncSource implements SyncSource {
  readonly #o: SlidingSyncSourceOptions;
  readonly #log: Logger;
  /** The last position of the window (inclusive). */
  #end: number;
  /** The rooms in the list at the last answer. */
  #count: number | undefined;
  /** A stored token whose position the server no longer knows: requests from it start a new connection. */
  #lost: string | undefined;
  /** Requests made, and answers not processed because the window was full (for tests and the benchmark). */
  readonly stats = { requests: 0, widened: 0, newConnections: 0 };

  constructor(options: SlidingSyncSourceOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#end = Math.max(1, options.window ?? DEFAULT_SLIDING_WINDOW) - 1;
  }

  /** The list's required state: the tracked types, lazily loaded members and the bot's own. */
  requiredState(): [string, string][] {
    const out: [string, string][] = [];
    for (const type of TRACKED_STATE_TYPES) if (type !== "m.room.member") out.push([type, ""]);
    for (const type of this.#o.extraStateTypes?.() ?? []) out.push([type, "*"]);
    out.push(["m.room.member", "$LAZY"], ["m.room.member", "$ME"]);
    return out;
  }

  /** Whether the window covers every room (then requests long-poll). */
  get complete(): boolean {
    return this.#count !== undefined && this.#end >= this.#count - 1;
  }

  /** Whether the next request widens the window (and so does not wait for news). */
  get #growing(): boolean {
    return (this.#o.growBy ?? DEFAULT_SLIDING_GROW_BY) > 0 && !this.complete;
  }

  async next(since: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<SourceBatch> {
    for (;;) {
      const stored = parseSlidingToken(since);
      // A token that is not ours (a /sync one, or damaged) is a lost position too.
      const lost = since !== undefined && (stored === undefined || since === this.#lost);
      if (since !== undefined && stored === undefined && this.#lost !== since) this.#log.warn({}, "the stored sync position is not a sliding sync one; starting a new connection");
      const pos = lost ? undefined : stored?.pos;
      // Once the window has covered every room, each of them has been sent on this connection: live counts again.
      const replaced = lost || (stored?.replaced === true && !this.complete);
      const body = this.#request(stored?.toDevice);
      this.stats.requests++;
      let answer;
      try {
        answer = await this.#o.api.sync.sliding(body, { ...(pos !== undefined ? { pos } : {}), timeout: this.#growing || pos === undefined ? 0 : timeoutMs }, { signal });
      } catch (error) {
        if (pos !== undefined && error instanceof MatrixError && error.errcode === "M_UNKNOWN_POS") {
          this.#log.warn({}, "the server no longer knows the sliding sync position; starting a new connection");
          this.#lost = since;
          continue;
        }
        throw error;
      }
      if (pos === undefined) this.stats.newConnections++;
      if (typeof answer?.pos !== "string" || answer.pos === "") throw new TypeError("sliding sync response without a pos");
      const mapped = mapSlidingResponse(answer, {
        userId: this.#o.userId,
        newConnection: pos === undefined,
        replaced,
        fromPos: pos,
        knownJoined: this.#o.knownJoined ?? (() => false),
      });
      const count = answer.lists?.[LIST]?.count;
      const size = this.#end + 1;
      if (typeof count === "number" && count >= 0) this.#count = count;
      if (pos !== undefined && this.#count !== undefined && this.#count > size && mapped.roomsWithNews >= size) {
        // Rooms below the window may have news too: ask the same position again with a larger window,
        // so their news is measured from it (a later position would count it as history).
        this.#end = Math.min(this.#count - 1, 2 * size - 1);
        this.stats.widened++;
        this.#log.debug({ rooms: mapped.roomsWithNews, window: size }, "sliding window full; asking again with a larger one");
        continue;
      }
      this.#grow();
      const toDevice = answer.extensions?.to_device?.next_batch;
      mapped.response.next_batch = encodeSlidingToken({
        pos: answer.pos,
        toDevice: typeof toDevice === "string" ? toDevice : stored?.toDevice,
        replaced,
      });
      return { response: mapped.response, rooms: mapped.rooms };
    }
  }

  /** Widens the window for the next request, until it holds every room (with room to spare for new ones). */
  #grow(): void {
    const growBy = this.#o.growBy ?? DEFAULT_SLIDING_GROW_BY;
    if (growBy <= 0 || this.#count === undefined) return;
    this.#end = this.#end >= this.#count - 1 ? Math.max(this.#end, this.#count - 1 + growBy) : Math.min(this.#count - 1, this.#end + growBy);
  }

  #request(toDeviceSince: string | undefined): SlidingSyncRequest {
    const encryption = this.#o.encryption;
    return {
      conn_id: SLIDING_CONN_ID,
      lists: { [LIST]: { ranges: [[0, this.#end]], required_state: this.requiredState(), timeline_limit: this.#o.timelineLimit ?? DEFAULT_SLIDING_TIMELINE_LIMIT } },
      extensions: {
        account_data: { enabled: true },
        ...(encryption ? { to_device: { enabled: true, ...(toDeviceSince !== undefined ? { since: toDeviceSince } : {}) }, e2ee: { enabled: true } } : {}),
      },
    };
  }
}
