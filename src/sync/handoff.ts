/**
 * `syncMode: "sliding"`: simplified sliding sync for the start, incremental
 * `/sync` after it. A sliding first answer comes within seconds at any number
 * of rooms, but every later sliding request with a list costs Synapse a load
 * and sort of all the bot's memberships (0.5-0.8 s at 10 000 rooms), while an
 * incremental `/sync` only walks the rooms with changes. So once one sliding
 * long poll has been answered (the first commands are answered), the source
 * hands off to `/sync`:
 *
 * 1. Acknowledge: a sliding request on a connection of its own, with only the
 *    to-device extension, `since` the stored to-device position and `limit`
 *    0: the server deletes what the bot has handled and returns nothing (the
 *    device has one to-device inbox, shared by sliding sync and `/sync`).
 * 2. The token: an initial `/sync` whose filter selects no room, no presence
 *    and no account data ({@link HANDOFF_TOKEN_FILTER}); Synapse then skips
 *    the rooms entirely. Its `next_batch` T is where `/sync` continues. It
 *    also carries the to-device messages not yet handled, up to T's to-device
 *    position (an initial `/sync` deletes nothing).
 * 3. The catch-up: one more sliding request from the stored position, without
 *    wait and without the to-device extension. It covers room news up to a
 *    moment after T was issued, so nothing between the last sliding answer and
 *    T is lost. It is the batch the engine processes, with the to-device
 *    messages of step 2 and T as its token.
 * 4. `/sync` from T with the bot's filter, from then on. Its first answer
 *    repeats the news between T and the catch-up: timeline events are skipped
 *    by the engine's dedupe (by event id); an invite or a leave the catch-up
 *    already delivered is dropped here ({@link dropOverlap}); state, account
 *    data, device lists and key counts are applied again, which changes
 *    nothing. To-device messages do not overlap: `/sync` from T returns only
 *    those after T's to-device position, and acknowledges the rest.
 *
 * A room sliding sync never showed has no state in the tracker, and an
 * incremental `/sync` sends only what changed: before such a room's first
 * batch is handed to the engine, its tracked state is fetched (one
 * `GET /rooms/{id}/state`), so whether it is encrypted is known
 * ({@link roomsWithoutState}).
 *
 * The stored position: a sliding token (`nbss1:`) until the catch-up batch is
 * processed, then the `/sync` token. A restart with a sliding token resumes
 * sliding sync and hands off again; with a `/sync` token it continues with
 * incremental `/sync` at once (cheap at any number of rooms). A failure
 * anywhere in steps 1-3 leaves the sliding token: the engine asks again and
 * the hand-off starts over (each step can be repeated).
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { BasicEvent, StateEvent } from "../api/events.js";
import { MatrixError } from "../api/errors.js";
import type { JoinedRoomSink } from "../api/sync-body.js";
import type { SyncFilter, SyncResponse } from "../api/types.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { TRACKED_STATE_TYPES } from "./room.js";
import type { SlidingSyncSource } from "./sliding.js";
import { isSlidingToken, parseSlidingToken } from "./sliding-map.js";
import type { LongPollSource, RoomHint, SourceBatch, SyncSource } from "./source.js";

/** The filter of the token `/sync`: no room, no presence, no account data (Synapse skips the rooms for `rooms: []`). */
export const HANDOFF_TOKEN_FILTER: SyncFilter = {
  room: { rooms: [] },
  presence: { not_types: ["*"] },
  account_data: { not_types: ["*"] },
};

/** The connection id of the acknowledging request, so the bot's own connection keeps its position. */
export const HANDOFF_ACK_CONN_ID = "niobot-ack";

/** Which request serves the next batch. */
export type HandoffPhase = "sliding" | "handoff" | "sync";

/**
 * The next batch's phase: `/sync` once the position is a `/sync` token; sliding sync for a first
 * start and until one sliding long poll (a request that could wait) has been answered in this
 * run, so the first commands are answered at sliding speed; the hand-off after it.
 */
export function handoffPhase(since: string | undefined, slidingPolls: number, enabled = true): HandoffPhase {
  if (since !== undefined && !isSlidingToken(since)) return "sync";
  if (!enabled || since === undefined || slidingPolls < 1) return "sliding";
  return "handoff";
}

/** What the catch-up delivered that `/sync` from T may deliver again and the engine would not dedupe. */
export interface Overlap {
  invites: ReadonlySet<string>;
  leaves: ReadonlySet<string>;
}

/** The invites and leaves of a batch. */
export function overlapOf(response: SyncResponse): Overlap {
  return { invites: new Set(Object.keys(response.rooms?.invite ?? {})), leaves: new Set(Object.keys(response.rooms?.leave ?? {})) };
}

/**
 * Drops from the first `/sync` answer the invites and leaves the catch-up already delivered
 * (they have no event id the engine could dedupe by); returns how many. A room invited, left
 * and invited again within the second of the hand-off would lose its second invite: that is
 * the price of not dispatching every invite of the window twice.
 */
export function dropOverlap(response: SyncResponse, overlap: Overlap): number {
  let dropped = 0;
  const rooms = response.rooms;
  if (!rooms) return 0;
  for (const [section, seen] of [[rooms.invite, overlap.invites], [rooms.leave, overlap.leaves]] as const) {
    for (const roomId of Object.keys(section ?? {})) {
      if (!seen.has(roomId)) continue;
      delete section![roomId];
      dropped++;
    }
  }
  return dropped;
}

/**
 * Joined rooms of a `/sync` answer whose state the bot lacks: not known as joined, and sent
 * without their full state (a room the bot has just joined comes with it, `m.room.create`
 * included; an incremental answer for an old room has only what changed).
 */
export function roomsWithoutState(response: SyncResponse, knownJoined: (roomId: string) => boolean): string[] {
  const out: string[] = [];
  for (const [roomId, joined] of Object.entries(response.rooms?.join ?? {})) {
    if (knownJoined(roomId)) continue;
    const full = [...(joined.state?.events ?? []), ...(joined.timeline?.events ?? [])].some((e) => e?.type === "m.room.create");
    if (!full) out.push(roomId);
  }
  return out;
}

/**
 * The events of a fetched room state the tracker keeps: the tracked types and `extra` ones, and
 * of the members only the bot's own (others come lazily with the timeline, as with `/sync`).
 */
export function trackedStateOf(state: readonly StateEvent[], userId: string, extra: ReadonlySet<string>): StateEvent[] {
  return state.filter((e) => (e.type === "m.room.member" ? e.state_key === userId : TRACKED_STATE_TYPES.has(e.type) || extra.has(e.type)));
}

/** Stages of the hand-off, for {@link HandoffSourceOptions.onStage}. */
export type HandoffStage = "acknowledged" | "token" | "caught-up";

/** Options of a {@link HandoffSource}. */
export interface HandoffSourceOptions {
  api: MatrixApi;
  userId: string;
  sliding: SlidingSyncSource;
  /** `/sync` with the bot's filter. */
  longPoll: LongPollSource;
  /** Whether to-device messages are asked for (the bot has encryption). */
  encryption: boolean;
  /** Whether the tracker knows a room as joined (its state is there). */
  knownJoined: (roomId: string) => boolean;
  /** State types kept beyond the tracked ones, read at each use. */
  extraStateTypes?: () => ReadonlySet<string>;
  /** `set_presence` of the token `/sync`, as the bot's other syncs. */
  presence?: "online" | "offline" | "unavailable";
  /** Hand off at all (default true); false keeps sliding sync for good. */
  handoff?: boolean;
  logger?: Logger;
  /** Called after each stage of a hand-off (tests hold the hand-off here to send into its window). */
  onStage?: (stage: HandoffStage) => Promise<void> | void;
}

/** Sliding sync for the start, incremental `/sync` after it, as one {@link SyncSource}. */
export class HandoffSource implements SyncSource {
  readonly #o: HandoffSourceOptions;
  readonly #log: Logger;
  /** Sliding answers to requests that could wait, in this run. */
  #slidingPolls = 0;
  /** What the catch-up delivered, and the token T it came with: `/sync` answers from T are cleaned of it. */
  #overlap: { token: string; overlap: Overlap } | undefined;
  /** Hand-offs done, and room states fetched for rooms sliding sync never showed (for tests and the benchmark). */
  readonly stats = { handoffs: 0, stateFetches: 0 };

  constructor(options: HandoffSourceOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
  }

  /** The sliding source (its window and counters). */
  get sliding(): SlidingSyncSource {
    return this.#o.sliding;
  }

  async next(since: string | undefined, timeoutMs: number, signal: AbortSignal, onJoinedRoom?: JoinedRoomSink): Promise<SourceBatch> {
    const phase = handoffPhase(since, this.#slidingPolls, this.#o.handoff ?? true);
    if (phase === "sync") return this.#sync(since!, timeoutMs, signal, onJoinedRoom);
    if (phase === "handoff") return this.#handoff(since!, signal);
    const batch = await this.#o.sliding.next(since, timeoutMs, signal);
    if (timeoutMs > 0) this.#slidingPolls++;
    return batch;
  }

  async #sync(since: string, timeoutMs: number, signal: AbortSignal, onJoinedRoom: JoinedRoomSink | undefined): Promise<SourceBatch> {
    let batch: SourceBatch;
    try {
      batch = await this.#o.longPoll.next(since, timeoutMs, signal, onJoinedRoom);
    } catch (error) {
      // A token the server cannot read (damaged in the store): start a new sliding connection,
      // which treats the lost position as such (rooms' events after the newest handled one are news).
      if (!(error instanceof MatrixError && error.status === 400)) throw error;
      this.#log.warn({ errcode: error.errcode }, "the server refused the stored /sync token; starting sliding sync again");
      return this.#o.sliding.next(since, 0, signal);
    }
    const response = batch.response;
    // Kept while the engine asks from T: an answer it failed to process is fetched again, and cleaned again.
    if (this.#overlap !== undefined && this.#overlap.token !== since) this.#overlap = undefined;
    if (this.#overlap) {
      const dropped = dropOverlap(response, this.#overlap.overlap);
      if (dropped > 0) this.#log.debug({ dropped }, "dropped invites and leaves the hand-off's catch-up delivered already");
    }
    const rooms = await this.#fillState(response, since, signal);
    return rooms.size > 0 ? { response, rooms } : batch;
  }

  /**
   * Adds their tracked state to joined rooms the bot has no state for, and returns hints that
   * they are shown for the first time (so an old room with news is not taken for a join).
   */
  async #fillState(response: SyncResponse, since: string, signal: AbortSignal): Promise<Map<string, RoomHint>> {
    const rooms = roomsWithoutState(response, this.#o.knownJoined);
    const hints = new Map<string, RoomHint>();
    const extra = this.#o.extraStateTypes?.() ?? new Set<string>();
    for (const roomId of rooms) {
      // A failure fails the answer: the engine fetches it again (a room must not be handled without knowing its encryption).
      const state = await this.#o.api.rooms.state(roomId, { signal });
      const joined = response.rooms!.join![roomId]!;
      const events = trackedStateOf(Array.isArray(state) ? state : [], this.#o.userId, extra);
      // After the answer's own state (older: the state at its timeline's start), before the timeline.
      joined.state = { events: [...(joined.state?.events ?? []), ...events] };
      this.stats.stateFetches++;
      hints.set(roomId, { history: 0, gapTo: since, firstSight: true });
    }
    return hints;
  }

  async #handoff(since: string, signal: AbortSignal): Promise<SourceBatch> {
    const { api } = this.#o;
    const toDeviceSince = parseSlidingToken(since)?.toDevice;
    if (this.#o.encryption && toDeviceSince !== undefined) {
      await api.sync.sliding(
        { conn_id: HANDOFF_ACK_CONN_ID, extensions: { to_device: { enabled: true, since: toDeviceSince, limit: 0 } } },
        { timeout: 0 },
        { signal },
      );
    }
    await this.#o.onStage?.("acknowledged");
    const token = await api.sync.sync({ filter: JSON.stringify(HANDOFF_TOKEN_FILTER), timeout: 0, set_presence: this.#o.presence }, { signal });
    if (typeof token.next_batch !== "string" || token.next_batch === "") throw new TypeError("/sync response without a next_batch");
    await this.#o.onStage?.("token");
    const batch = await this.#o.sliding.catchUp(since, signal);
    await this.#o.onStage?.("caught-up");
    const response = batch.response;
    response.to_device = { events: toDeviceEvents(token) };
    response.device_one_time_keys_count ??= token.device_one_time_keys_count;
    response.device_unused_fallback_key_types ??= token.device_unused_fallback_key_types;
    response.next_batch = token.next_batch;
    this.#overlap = { token: token.next_batch, overlap: overlapOf(response) };
    this.stats.handoffs++;
    this.#log.debug({ toDevice: response.to_device.events.length }, "handed off from sliding sync to /sync");
    return batch;
  }
}

function toDeviceEvents(response: SyncResponse): BasicEvent[] {
  const events = response.to_device?.events;
  return Array.isArray(events) ? events : [];
}
