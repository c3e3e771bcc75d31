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
 * The window: every request covers the {@link DEFAULT_SLIDING_WINDOW} most
 * recent rooms, and it does not grow. Synapse orders the list by each room's
 * latest event (any event, not only messages), so a room with news since the
 * last position is above every room without: a fixed window sees every room
 * with news as long as fewer rooms than it holds get news between two
 * requests. When the window is full of news, rooms below it may have news
 * too: the answer is not processed, the same position is asked again with a
 * window twice as large (so their news is still measured from that position),
 * and the window shrinks back once the answer is processed. A room that was
 * never in the window arrives, when it gets news, `initial` with its state and
 * `num_live` marking which timeline events are new; one that left the window
 * comes back with what happened since it was last sent. So a room outside the
 * window is unknown to the bot until it has news; what the bot needs about
 * such a room (encryption, members, direct rooms) is fetched when needed.
 * Growing the window to every room made Synapse list and check every room on
 * each request (about 1.5 s a request at 10 000 rooms).
 *
 * An unknown position (`M_UNKNOWN_POS`: the server expired the connection)
 * starts a new connection. Its rooms come `initial` with nothing marked live,
 * so a room's events after the newest one the bot already handled are news,
 * and the rest history (see {@link RoomHint.afterHandled}).
 *
 * In `syncMode: "sliding"` this source serves the start: once one long poll
 * has been answered, `handoff.ts` continues with incremental `/sync`, which
 * costs the server only the rooms with changes.
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

/**
 * Rooms in the window. A batch with news in more rooms than this costs one
 * more request (the same position asked with a larger window); a larger window
 * makes the first answer of a new connection larger (each of its rooms comes
 * with state and timeline).
 */
export const DEFAULT_SLIDING_WINDOW = 32;
/** Timeline events per room and response (more is back-filled from `/messages`). */
export const DEFAULT_SLIDING_TIMELINE_LIMIT = 10;
/** The connection id niobot uses, so another client of the same device does not share its position. */
export const SLIDING_CONN_ID = "niobot";
const LIST = "rooms";

/** Where the window stands when an answer came, and what the answer held. */
export interface WindowState {
  /** The last position of the window the answer is for (inclusive). */
  end: number;
  /** The last position of the usual window (inclusive). */
  baseEnd: number;
  /** Rooms in the list, as the server last counted them. */
  count: number | undefined;
  /** Rooms the answer sent with news (live events, an invite, a leave). */
  roomsWithNews: number;
  /** The request carried a position (a new connection's first answer has no news to miss). */
  hadPos: boolean;
}

/**
 * What follows an answer: ask the same position again with a window twice as
 * large when the window was full of news and rooms lie below it (the list is
 * ordered by latest event, so only then can a room below have news), or
 * process it and go back to the usual window.
 */
export function windowStep(state: WindowState): { askAgain: boolean; end: number } {
  const size = state.end + 1;
  if (state.hadPos && state.count !== undefined && state.count > size && state.roomsWithNews >= size)
    return { askAgain: true, end: Math.min(state.count - 1, 2 * size - 1) };
  return { askAgain: false, end: state.baseEnd };
}

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
  timelineLimit?: number;
}

/** Simplified sliding sync as a {@link SyncSource}. */
export class SlidingSyncSource implements SyncSource {
  readonly #o: SlidingSyncSourceOptions;
  readonly #log: Logger;
  /** The last position of the window (inclusive) when no answer overflowed it. */
  readonly #baseEnd: number;
  /** The last position of the window of the next request (inclusive): larger than {@link #baseEnd} while a full window is asked again. */
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
    this.#baseEnd = Math.max(1, Math.floor(options.window ?? DEFAULT_SLIDING_WINDOW)) - 1;
    this.#end = this.#baseEnd;
  }

  /** The list's required state: the tracked types, lazily loaded members and the bot's own. */
  requiredState(): [string, string][] {
    const out: [string, string][] = [];
    for (const type of TRACKED_STATE_TYPES) if (type !== "m.room.member") out.push([type, ""]);
    for (const type of this.#o.extraStateTypes?.() ?? []) out.push([type, "*"]);
    out.push(["m.room.member", "$LAZY"], ["m.room.member", "$ME"]);
    return out;
  }

  /** Whether the window covers every room (every room has been sent on this connection). */
  get complete(): boolean {
    return this.#count !== undefined && this.#end >= this.#count - 1;
  }

  /** The size of the next request's window. */
  get window(): number {
    return this.#end + 1;
  }

  async next(since: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<SourceBatch> {
    return this.#next(since, timeoutMs, signal, true);
  }

  /**
   * The news since `since` at once (no wait), without the to-device extension: the hand-off's
   * catch-up (`handoff.ts`), whose to-device messages come from `/sync` instead. The answer's
   * token keeps the to-device position of `since`, so nothing is acknowledged.
   */
  catchUp(since: string, signal: AbortSignal): Promise<SourceBatch> {
    return this.#next(since, 0, signal, false);
  }

  async #next(since: string | undefined, timeoutMs: number, signal: AbortSignal, withToDevice: boolean): Promise<SourceBatch> {
    for (;;) {
      const stored = parseSlidingToken(since);
      // A token that is not ours (a /sync one, or damaged) is a lost position too.
      const lost = since !== undefined && (stored === undefined || since === this.#lost);
      if (since !== undefined && stored === undefined && this.#lost !== since) this.#log.warn({}, "the stored sync position is not a sliding sync one; starting a new connection");
      const pos = lost ? undefined : stored?.pos;
      // Once the window has covered every room, each of them has been sent on this connection: live counts again.
      const replaced = lost || (stored?.replaced === true && !this.complete);
      const body = this.#request(stored?.toDevice, withToDevice);
      this.stats.requests++;
      let answer;
      try {
        answer = await this.#o.api.sync.sliding(body, { ...(pos !== undefined ? { pos } : {}), timeout: pos === undefined ? 0 : timeoutMs }, { signal });
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
      if (typeof count === "number" && count >= 0) this.#count = count;
      const step = windowStep({ end: this.#end, baseEnd: this.#baseEnd, count: this.#count, roomsWithNews: mapped.roomsWithNews, hadPos: pos !== undefined });
      if (step.askAgain) {
        // Rooms below the window may have news too: ask the same position again with a larger window,
        // so their news is measured from it (a later position would count it as history).
        this.stats.widened++;
        this.#log.debug({ rooms: mapped.roomsWithNews, window: this.#end + 1 }, "sliding window full; asking again with a larger one");
        this.#end = step.end;
        continue;
      }
      this.#end = step.end;
      const toDevice = withToDevice ? answer.extensions?.to_device?.next_batch : undefined;
      mapped.response.next_batch = encodeSlidingToken({
        pos: answer.pos,
        toDevice: typeof toDevice === "string" ? toDevice : stored?.toDevice,
        replaced,
      });
      return { response: mapped.response, rooms: mapped.rooms };
    }
  }

  #request(toDeviceSince: string | undefined, withToDevice: boolean): SlidingSyncRequest {
    const encryption = this.#o.encryption;
    const toDevice = encryption && withToDevice;
    return {
      conn_id: SLIDING_CONN_ID,
      lists: { [LIST]: { ranges: [[0, this.#end]], required_state: this.requiredState(), timeline_limit: this.#o.timelineLimit ?? DEFAULT_SLIDING_TIMELINE_LIMIT } },
      extensions: {
        account_data: { enabled: true },
        ...(toDevice ? { to_device: { enabled: true, ...(toDeviceSince !== undefined ? { since: toDeviceSince } : {}) } } : {}),
        ...(encryption ? { e2ee: { enabled: true } } : {}),
      },
    };
  }
}
