/**
 * The sync engine: long-polls `/sync`, keeps room state current, and hands
 * events to the bot in order, with these delivery guarantees:
 *
 * - The sync token of a batch is persisted only once every handler of that
 *   batch (and of every earlier batch) has finished, so a crash never loses an
 *   event; handlers keep running concurrently, so a handler that waits for a
 *   later message (a conversation) cannot deadlock the loop.
 * - Each finished event id is remembered, so the batch replayed after a crash
 *   skips what was already handled: nothing runs twice.
 * - On a first start (no stored token) the initial timeline is history and is
 *   not dispatched (`ignoreOldEvents`), judged by sync position, not by clocks.
 * - A gappy timeline (`limited`) is back-filled from `/messages` up to the
 *   previous token, so a burst while the bot was busy or down is not skipped.
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { ClientEvent, StrippedStateEvent } from "../api/events.js";
import type { SyncFilter, SyncResponse, Timeline } from "../api/types.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { backoffDelay, isAbortError, sleep } from "../util/async.js";
import { findOwnInvite } from "./invite.js";
import type { Room } from "./room.js";
import type { RoomTracker } from "./tracker.js";

/** What the engine hands to the bot. Every method may be async. */
export interface SyncSink {
  /** Called first for each batch (end-to-end encryption feeds to-device events and key counts here). */
  beforeBatch?(response: SyncResponse, initial: boolean): Promise<void> | void;
  /** A timeline event of a joined room. */
  onEvent(room: Room, event: ClientEvent): Promise<void> | void;
  /** The bot was invited; `invite` is the invite event itself, undefined when none can be trusted (see `findOwnInvite`). */
  onInvite(room: Room, invite: StrippedStateEvent | undefined): Promise<void> | void;
  /** The bot's membership became `join`. */
  onJoin(room: Room): Promise<void> | void;
  /** The bot left, was kicked or banned, or an invite was withdrawn. */
  onLeave(room: Room, event: ClientEvent | undefined): Promise<void> | void;
  /** A sync request failed; the engine retries with backoff. */
  onSyncError(error: unknown, attempt: number): void;
  /** A fatal sync error (e.g. the access token was revoked): the loop stops. */
  onFatal(error: unknown): void;
}

/** Options of a {@link SyncEngine}. */
export interface SyncEngineOptions {
  api: MatrixApi;
  store: Store;
  tracker: RoomTracker;
  sink: SyncSink;
  logger?: Logger;
  /** The filter (default: lazy-loaded members, no presence, no ephemeral events). */
  filter?: SyncFilter;
  /** Long-poll duration (default 30 s). */
  timeoutMs?: number;
  /** `set_presence` sent with every sync (default: none, so the server's default, "online"). */
  presence?: "online" | "offline" | "unavailable";
  /** Skip the initial sync's timeline on a first start (default true). */
  ignoreOldEvents?: boolean;
  /** Skip events older than this when catching up after downtime (default: handle all). */
  maxEventAgeMs?: number;
  /** Sync error backoff (default 1 s doubling up to 60 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Pause syncing while this many events are being handled (default 200). */
  maxInFlight?: number;
  /** Most events fetched to fill one gappy timeline (default 500). */
  gapFillLimit?: number;
  /** How long `stop()` waits for running handlers before saving what finished (default 5 s). */
  stopGraceMs?: number;
}

/** The default sync filter: what a bot needs and no more. */
export const DEFAULT_SYNC_FILTER: SyncFilter = {
  presence: { not_types: ["*"] },
  room: {
    state: { lazy_load_members: true },
    timeline: { limit: 50, lazy_load_members: true },
    ephemeral: { not_types: ["*"] },
  },
};

interface Batch {
  token: string;
  pending: number;
}

/** Long-polls `/sync` and dispatches what arrives. */
export class SyncEngine {
  readonly #o: SyncEngineOptions;
  readonly #log: Logger;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #since: string | undefined;
  #watermark: string | undefined;
  readonly #batches: Batch[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #persist: Promise<void> = Promise.resolve();
  #filter: string;
  #detached = false;

  constructor(options: SyncEngineOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#filter = JSON.stringify(options.filter ?? DEFAULT_SYNC_FILTER);
  }

  /** Whether the loop is running. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The token the next sync starts from. */
  get since(): string | undefined {
    return this.#since;
  }

  /**
   * Starts the loop. Resolves once the first batch has been processed (the
   * bot is "ready"); rejects if the loop stops before that.
   */
  async start(): Promise<void> {
    if (this.#loop) throw new Error("sync engine already running");
    this.#detached = false;
    this.#since = await this.#o.store.getSyncToken();
    this.#watermark = this.#since;
    const abort = (this.#abort = new AbortController());
    let markReady!: () => void;
    let failReady!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject)));
    this.#loop = this.#run(abort.signal, markReady).then(
      () => failReady(new Error("sync stopped before the first batch")),
      (error: unknown) => failReady(error),
    );
    return ready;
  }

  /** Stops at once, aborting an in-flight long poll; waits briefly for running handlers. */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#abort?.abort(new DOMException("sync stopped", "AbortError"));
    await loop;
    const grace = this.#o.stopGraceMs ?? 5_000;
    if (this.#inFlight.size > 0) {
      this.#log.debug({ running: this.#inFlight.size }, "waiting for running handlers before stopping");
      await Promise.race([Promise.allSettled([...this.#inFlight]), sleep(grace)]);
    }
    await this.#persist;
    // Handlers still running past the grace period are left unrecorded (they
    // run again after a restart); their late completions must not touch a
    // store the bot is about to close.
    this.#detached = true;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal, markReady: () => void): Promise<void> {
    let failures = 0;
    let first = true;
    while (!signal.aborted) {
      try {
        while (this.#inFlight.size >= (this.#o.maxInFlight ?? 200) && !signal.aborted)
          await Promise.race([...this.#inFlight]);
        const response = await this.#o.api.sync.sync(
          { filter: this.#filter, since: this.#since, timeout: first ? 0 : this.#o.timeoutMs ?? 30_000, set_presence: this.#o.presence },
          { signal },
        );
        failures = 0;
        await this.#process(response, signal);
        if (first) {
          first = false;
          markReady();
        }
      } catch (error) {
        if (signal.aborted || isAbortError(error)) return;
        if (error instanceof MatrixError && (error.errcode === "M_UNKNOWN_TOKEN" || error.status === 401)) {
          this.#o.sink.onFatal(error);
          throw error;
        }
        this.#o.sink.onSyncError(error, failures);
        const delay = backoffDelay(failures++, this.#o.initialBackoffMs ?? 1_000, this.#o.maxBackoffMs ?? 60_000);
        this.#log.warn({ error: (error as Error).message, retryInMs: delay }, "sync failed");
        try {
          await sleep(delay, signal);
        } catch {
          return;
        }
      }
    }
  }

  async #process(response: SyncResponse, signal: AbortSignal): Promise<void> {
    const initial = this.#since === undefined;
    const historical = initial && (this.#o.ignoreOldEvents ?? true);
    const { tracker, sink } = this.#o;
    // Before the batch is queued: if this throws, the batch is simply fetched again.
    await sink.beforeBatch?.(response, initial);
    const batch: Batch = { token: response.next_batch, pending: 1 };
    this.#batches.push(batch);
    tracker.applyAccountData(response.account_data?.events);

    for (const [roomId, invited] of Object.entries(response.rooms?.invite ?? {})) {
      const room = tracker.ensureRoom(roomId, "invite");
      const events = invited.invite_state?.events ?? [];
      for (const event of events) tracker.applyState(room, event);
      const own = findOwnInvite(events, tracker.userId);
      if (own.problem !== undefined) this.#log.warn({ roomId, problem: own.problem }, "invite without a trustworthy invite event: inviter unknown");
      this.#dispatch(batch, undefined, () => sink.onInvite(room, own.invite));
    }

    for (const [roomId, joined] of Object.entries(response.rooms?.join ?? {})) {
      const wasJoined = tracker.rooms.get(roomId)?.membership === "join";
      const room = tracker.ensureRoom(roomId, "join");
      tracker.applySummary(room, joined.summary);
      for (const event of joined.state?.events ?? []) tracker.applyState(room, event);
      const timeline = joined.timeline?.events ?? [];
      for (const event of timeline) {
        event.room_id ??= roomId;
        tracker.applyState(room, event);
      }
      tracker.applyAccountData(joined.account_data?.events, room);
      if (!wasJoined && !initial) this.#dispatch(batch, undefined, () => sink.onJoin(room));
      if (historical) continue;
      const events = await this.#fillGap(roomId, joined.timeline, signal);
      for (const event of events) this.#dispatchEvent(batch, room, event);
    }

    for (const [roomId, left] of Object.entries(response.rooms?.leave ?? {})) {
      const room = tracker.rooms.get(roomId) ?? tracker.ensureRoom(roomId, "leave");
      room.membership = "leave";
      const own = [...(left.timeline?.events ?? []), ...(left.state?.events ?? [])]
        .reverse()
        .find((e) => e.type === "m.room.member" && e.state_key === tracker.userId);
      if (own) own.room_id ??= roomId;
      this.#dispatch(batch, undefined, async () => {
        try {
          await sink.onLeave(room, own);
        } finally {
          tracker.forgetRoom(roomId);
        }
      });
    }

    this.#since = response.next_batch;
    this.#settle(batch);
  }

  /** Back-fills a gappy timeline from `/messages` down to the previous token. */
  async #fillGap(roomId: string, timeline: Timeline | undefined, signal: AbortSignal): Promise<ClientEvent[]> {
    const events = timeline?.events ?? [];
    if (!timeline?.limited || !timeline.prev_batch || this.#since === undefined) return events;
    const limit = this.#o.gapFillLimit ?? 500;
    const missed: ClientEvent[] = [];
    let from: string | undefined = timeline.prev_batch;
    try {
      while (from && missed.length < limit) {
        const page = await this.#o.api.sync.messages(roomId, { from, to: this.#since, dir: "b", limit: 100 }, { signal });
        for (const event of page.chunk) missed.push({ ...event, room_id: event.room_id ?? roomId });
        if (page.chunk.length === 0 || page.end === undefined || page.end === from) break;
        from = page.end;
      }
    } catch (error) {
      if (signal.aborted) throw error;
      this.#log.warn({ roomId, error: (error as Error).message }, "could not back-fill a timeline gap");
    }
    if (missed.length >= limit) this.#log.warn({ roomId, limit }, "timeline gap larger than gapFillLimit; older events skipped");
    this.#log.debug({ roomId, count: missed.length }, "back-filled timeline gap");
    return [...missed.reverse(), ...events];
  }

  #dispatchEvent(batch: Batch, room: Room, event: ClientEvent): void {
    const maxAge = this.#o.maxEventAgeMs;
    if (maxAge !== undefined && Date.now() - event.origin_server_ts > maxAge) {
      this.#log.debug({ eventId: event.event_id, roomId: room.roomId }, "skipping event older than maxEventAgeMs");
      return;
    }
    this.#dispatch(batch, event.event_id, () => this.#o.sink.onEvent(room, event));
  }

  /** Runs one handler without blocking the loop, tracking it against its batch. */
  #dispatch(batch: Batch, eventId: string | undefined, run: () => Promise<void> | void): void {
    batch.pending++;
    const task = (async () => {
      if (eventId !== undefined && (await this.#o.store.isHandled(eventId))) return;
      try {
        await run();
      } catch (error) {
        // Sinks route handler errors themselves; this is a last resort.
        this.#log.error({ error, eventId }, "unhandled error while dispatching");
      }
      if (eventId !== undefined && !this.#detached) await this.#o.store.markHandled(eventId);
    })().finally(() => {
      this.#inFlight.delete(task);
      if (!this.#detached) this.#settle(batch);
    });
    this.#inFlight.add(task);
  }

  /** Marks one unit of a batch done and persists the newest fully handled position. */
  #settle(batch: Batch): void {
    batch.pending--;
    let advanced = false;
    while (this.#batches[0] && this.#batches[0].pending === 0) {
      this.#watermark = this.#batches.shift()?.token;
      advanced = true;
    }
    const changes = this.#o.tracker.takeChanges();
    if (!advanced && changes.length === 0) return;
    const token = this.#watermark;
    this.#persist = this.#persist
      .then(() => this.#o.store.commitSync(token, changes))
      .catch((error: unknown) => this.#log.error({ error }, "could not save the sync position"));
  }
}
