/**
 * The sync engine: long-polls `/sync`, keeps room state current, and hands
 * events to the bot in order, with these delivery guarantees:
 *
 * - The sync token of a batch is persisted only once every handler of that
 *   batch (and of every earlier batch) has finished or overrun its deadline
 *   (`handlerTimeoutMs`), so a crash never loses an event and one hung handler
 *   cannot stop the position from being saved.
 * - Handlers run at most `maxConcurrentHandlers` at once, one room's events in
 *   order; a handler waiting for a later event parks (see `scheduler.ts`), so
 *   a conversation cannot deadlock its room.
 * - Room state changes are written with the token in one transaction; a failed
 *   write puts them back, so the next write includes them and no token is
 *   ever saved ahead of state that is not.
 * - A malformed response is cleaned before it is queued, and store failures
 *   are reported and retried: the loop keeps going on a full disk.
 * - Each finished event id is remembered, so the batch replayed after a crash
 *   skips what was already handled: nothing runs twice.
 * - On a first start (no stored token) the initial timeline is history and is
 *   not dispatched (`ignoreOldEvents`), judged by sync position, not by clocks;
 *   its joined rooms are then applied one by one as the answer is read.
 * - A gappy timeline (`limited`) is back-filled from `/messages` up to the
 *   previous token, so a burst while the bot was busy or down is not skipped.
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { ClientEvent, StateEvent, StrippedStateEvent } from "../api/events.js";
import type { SyncFilter, SyncResponse, Timeline } from "../api/types.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { backoffDelay, isAbortError, sleep } from "../util/async.js";
import { DeadlineLane } from "../util/deadlines.js";
import { findOwnInvite } from "./invite.js";
import { HandlerTimeoutError, SyncBatchSkippedError } from "./errors.js";
import type { Room } from "./room.js";
import { HandlerScheduler, type SchedulerSlot } from "./scheduler.js";
import { runAsHandler } from "../delivery/context.js";
import type { RoomTracker } from "./tracker.js";
import { isSlidingToken } from "./sliding-map.js";
import { LongPollSource, type RoomHint, type SyncSource } from "./source.js";
import { sanitizeJoinedRoom, sanitizeSyncResponse, type SanitizeReport } from "./validate.js";
import { StoreWrites } from "./writes.js";

/**
 * What {@link SyncSink.beforeBatch} returns when it took a batch over without finishing with it:
 * the batch is dispatched at once, but its token is saved only once `consumed` resolves. A
 * rejected `consumed` keeps the position before the batch for good (the batch comes again after
 * a restart); the sink reports that failure itself.
 */
export interface BatchGate {
  consumed: Promise<void>;
}

/** What the engine hands to the bot. Every method may be async. */
export interface SyncSink {
  /**
   * Called first for each batch (end-to-end encryption feeds to-device events and key counts
   * here); the batch is dispatched once it returns, and with a {@link BatchGate} its token also
   * waits for the gate.
   */
  beforeBatch?(response: SyncResponse, initial: boolean): Promise<BatchGate | void> | BatchGate | void;
  /**
   * The loop is about to send a long poll: the previous batch was dispatched and its handlers
   * had their moment to finish (the crypto layer starts its one-time set-up from here).
   */
  beforePoll?(): void;
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
  /**
   * Background trouble the loop survives: a failed store write (`source`
   * "store"), a handler past its deadline ("handlerTimeout"), a skipped
   * response ("sync"). Without it, these are logged.
   */
  onError?(error: unknown, context: { source: string; room?: Room; event?: ClientEvent }): void;
}

/** Options of a {@link SyncEngine}. */
export interface SyncEngineOptions {
  api: MatrixApi;
  store: Store;
  tracker: RoomTracker;
  sink: SyncSink;
  logger?: Logger;
  /**
   * Where batches come from (default: `/sync` with `filter` and `presence`); a
   * {@link SlidingSyncSource} for simplified sliding sync.
   */
  source?: SyncSource;
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
  /** Handlers running at once, over all rooms (default 32); one room's events always run in order. */
  maxConcurrentHandlers?: number;
  /** After this long a handler is reported as slow, its signal aborts and its batch stops waiting for it (default 10 minutes). */
  handlerTimeoutMs?: number;
  /** A response that fails to be processed this many times in a row is skipped and reported (default 5). */
  maxBatchFailures?: number;
}

/** Default {@link SyncEngineOptions.maxConcurrentHandlers}. */
export const DEFAULT_MAX_CONCURRENT_HANDLERS = 32;
/** Default {@link SyncEngineOptions.handlerTimeoutMs}: longer than `waitForMessage`'s 5 minutes, so a conversation times out on its own first. */
export const DEFAULT_HANDLER_TIMEOUT_MS = 10 * 60_000;

/** Longest the next long poll waits for the handlers of the last batch (see `#settling`). */
const SYNC_COALESCE_MS = 500;

/** The default sync filter: what a bot needs and no more. */
export const DEFAULT_SYNC_FILTER: SyncFilter = {
  presence: { not_types: ["*"] },
  room: {
    state: { lazy_load_members: true },
    timeline: { limit: 50, lazy_load_members: true },
    ephemeral: { not_types: ["*"] },
  },
};

/** A run of failed sync requests, since the last one that succeeded. */
export interface SyncFailing {
  /** Failed requests in a row (each after the HTTP client's own retries). */
  attempts: number;
  /** When the first of them failed (epoch ms). */
  since: number;
  /** The last error's message. */
  error: string;
}

/** Rooms of a historical initial sync whose state changes are written together while it is read. */
const HISTORICAL_COMMIT_ROOMS = 1000;

/** The rooms of a historical initial sync applied while it was read (see `#takeHistoricalRoom`). */
interface TakenRooms {
  ids: Set<string>;
  report: SanitizeReport;
}

/** Whether an event turns a room's encryption on (what the crypto layer watches for, `members.ts`). */
function turnsOnEncryption(event: ClientEvent | StateEvent): boolean {
  return event.type === "m.room.encryption" && event.state_key === "";
}

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
  /** Dispatched units not yet settled (finished or past their deadline). */
  readonly #inFlight = new Set<Promise<void>>();
  /** Events being handled, so a response fetched again does not start them twice. */
  readonly #active = new Map<string, Promise<void>>();
  /** Signals of running handlers, aborted at stop. */
  readonly #controllers = new Set<LazyAbort>();
  readonly #scheduler: HandlerScheduler;
  #persist: Promise<void> = Promise.resolve();
  #commitQueued = false;
  #savedToken: string | undefined;
  readonly #writes: StoreWrites;
  #batchFailures = 0;
  readonly #source: SyncSource;
  #stopping = false;
  #detached = false;
  /** Handler deadlines (`handlerTimeoutMs`), all on one timer. */
  readonly #deadlines: DeadlineLane;
  readonly #deadlineMs: number;
  /** Ends the wait of {@link SyncEngine.#settling} (no handler runs, or the engine stops). */
  #drained: (() => void) | undefined;
  /**
   * The bound of {@link SyncEngine.#settling}'s waits, on one timer: a wait that ends early (nearly
   * every one) leaves no timer to start and clear per batch. Referenced, as the `setTimeout` it
   * replaces: a wait for a handler keeps the bot alive until the next long poll is sent.
   */
  readonly #coalesce = new DeadlineLane(SYNC_COALESCE_MS, undefined, { keepAlive: true });
  #failing: SyncFailing | undefined;

  constructor(options: SyncEngineOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#source = options.source ?? new LongPollSource({ api: options.api, filter: JSON.stringify(options.filter ?? DEFAULT_SYNC_FILTER), presence: options.presence });
    this.#deadlineMs = options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
    this.#deadlines = new DeadlineLane(this.#deadlineMs);
    this.#scheduler = new HandlerScheduler(options.maxConcurrentHandlers ?? DEFAULT_MAX_CONCURRENT_HANDLERS, () => this.#drained?.());
    this.#writes = new StoreWrites({
      store: options.store,
      log: this.#log,
      report: (error) => this.#report(error, { source: "store" }),
      retry: () => this.#scheduleCommit(),
      initialBackoffMs: options.initialBackoffMs ?? 1_000,
      maxBackoffMs: options.maxBackoffMs ?? 60_000,
    });
  }

  /** Whether the loop is running. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The current run of failed sync requests, or undefined once one has succeeded. */
  get failing(): SyncFailing | undefined {
    return this.#failing;
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
    this.#stopping = false;
    this.#writes.start();
    this.#since = await this.#o.store.getSyncToken();
    if (this.#o.source === undefined && isSlidingToken(this.#since)) {
      // Left by sliding sync mode: `/sync` cannot continue from it, so this start is a first start.
      this.#log.warn({}, "the stored sync position is a sliding sync one; starting /sync afresh (history is not news)");
      this.#since = undefined;
    }
    this.#watermark = this.#savedToken = this.#since;
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
    this.#stopping = true;
    this.#abort?.abort(new DOMException("sync stopped", "AbortError"));
    this.#drained?.();
    this.#coalesce.clear();
    // Handlers are told at once, so the ones that honour their signal end within the grace period.
    for (const controller of this.#controllers) controller.abort(new DOMException("the bot is stopping", "AbortError"));
    await loop;
    const grace = this.#o.stopGraceMs ?? 5_000;
    if (this.#inFlight.size > 0) {
      this.#log.debug({ running: this.#inFlight.size }, "waiting for running handlers before stopping");
      await Promise.race([Promise.allSettled([...this.#inFlight]), sleep(grace)]);
    }
    this.#writes.stop();
    await this.#writes.retryRecords();
    this.#scheduleCommit();
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
        if (!first) this.#o.sink.beforePoll?.();
        await this.#fetchAndProcess(first, signal, () => {
          failures = 0;
          this.#failing = undefined;
        });
        if (first) {
          first = false;
          markReady();
        } else await this.#settling(signal);
      } catch (error) {
        if (signal.aborted || isAbortError(error)) return;
        if (error instanceof MatrixError && (error.errcode === "M_UNKNOWN_TOKEN" || error.status === 401)) {
          this.#o.sink.onFatal(error);
          throw error;
        }
        const message = (error as Error)?.message ?? String(error);
        this.#failing = { attempts: failures + 1, since: this.#failing?.since ?? Date.now(), error: message };
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

  /**
   * One sync request and its processing, in a frame of its own: a suspended async function keeps
   * its locals, so a response held by the loop itself would stay alive through the next long poll
   * (the whole initial sync, at 10 000 rooms tens of MB, for 30 s or until the next event).
   */
  async #fetchAndProcess(first: boolean, signal: AbortSignal, fetched: () => void): Promise<void> {
    // A historical initial sync dispatches nothing from its rooms: each is applied as it is read
    // (see #takeHistoricalRoom), so the whole parsed answer never exists at once.
    const taken = this.#since === undefined && (this.#o.ignoreOldEvents ?? true) ? { ids: new Set<string>(), report: { dropped: 0, paths: [] } } : undefined;
    const take = taken && ((roomId: string, room: unknown) => this.#takeHistoricalRoom(roomId, room, taken));
    const next = await this.#source.next(this.#since, first ? 0 : this.#o.timeoutMs ?? 30_000, signal, take);
    fetched();
    await this.#process(next.response, signal, next.rooms, taken);
  }

  /**
   * Applies one joined room of a historical initial sync while the answer is still being read,
   * as {@link #apply} would once it is whole: its state, summary and account data, and no
   * events (history is not news) nor `onJoin` (not news on a first start). Returns whether it
   * took the room, which then is not in the batch. A room that is or turns encrypted stays in
   * the batch: the sink's `beforeBatch` (the crypto layer) reads its member events.
   *
   * The delivery guarantees hold: nothing is dispatched, the token moves only once the whole
   * batch is processed (the room changes recorded here may be written before, with an older
   * token, which only means they are applied again), and an answer that fails later in the read
   * is fetched again, its rooms applied again.
   */
  #takeHistoricalRoom(roomId: string, joined: unknown, taken: TakenRooms): boolean {
    if (!sanitizeJoinedRoom(roomId, joined, taken.report)) return true;
    const { tracker } = this.#o;
    const state = joined.state?.events ?? [];
    const timeline = joined.timeline?.events ?? [];
    if (tracker.rooms.get(roomId)?.isEncrypted === true || state.some(turnsOnEncryption) || timeline.some(turnsOnEncryption)) return false;
    const room = tracker.ensureRoom(roomId, "join");
    tracker.applySummary(room, joined.summary);
    for (const event of state) tracker.applyState(room, event);
    for (const event of timeline) tracker.applyState(room, event);
    tracker.applyAccountData(joined.account_data?.events, room);
    taken.ids.add(roomId);
    // The changes go to the store as the rooms come (with the last saved token, i.e. none):
    // kept until the end, thousands of rooms' change records would be part of the peak too.
    if (taken.ids.size % HISTORICAL_COMMIT_ROOMS === 0) this.#scheduleCommit();
    return true;
  }

  async #process(response: SyncResponse, signal: AbortSignal, hints: ReadonlyMap<string, RoomHint> | undefined, taken?: TakenRooms): Promise<void> {
    const cleaned = sanitizeSyncResponse(response, taken?.report);
    if (cleaned.dropped > 0) this.#log.warn({ ...cleaned }, "dropped malformed entries of a sync response");
    let gate: BatchGate | void = undefined;
    try {
      // Awaited only when it returned a promise: `await undefined` is a promise and a turn per batch.
      const before = this.#o.sink.beforeBatch?.(response, this.#since === undefined);
      gate = before instanceof Promise ? await before : before;
    } catch (error) {
      // Not queued yet: unless it keeps failing, the response is simply fetched again.
      if (signal.aborted || !this.#giveUp(error, response)) throw error;
    }
    const batch: Batch = { token: response.next_batch, pending: 1 };
    this.#batches.push(batch);
    if (gate) {
      // One more unit of the batch: its token (and every later one) waits for the sink too.
      batch.pending++;
      gate.consumed.then(() => this.#settle(batch), () => undefined);
    }
    let settle = true;
    try {
      await this.#apply(response, batch, signal, hints, taken?.ids);
    } catch (error) {
      if (signal.aborted || !this.#giveUp(error, response)) {
        // Fetched again from the same position; what started meanwhile is not started twice (#active).
        settle = false;
        this.#batches.splice(this.#batches.indexOf(batch), 1);
        throw error;
      }
    } finally {
      if (settle) {
        this.#batchFailures = 0;
        this.#since = response.next_batch;
        this.#settle(batch);
      }
    }
  }

  /** Counts a failure to process a response; after too many, reports it and moves on. */
  #giveUp(error: unknown, response: SyncResponse): boolean {
    if (++this.#batchFailures < (this.#o.maxBatchFailures ?? 5)) return false;
    // Retrying a response that always fails would stop the bot for good: go on without the failed part, loudly.
    this.#report(new SyncBatchSkippedError(response.next_batch, this.#batchFailures, { cause: error }), { source: "sync" });
    return true;
  }

  async #apply(response: SyncResponse, batch: Batch, signal: AbortSignal, hints: ReadonlyMap<string, RoomHint> | undefined, taken?: ReadonlySet<string>): Promise<void> {
    const initial = this.#since === undefined;
    const historical = initial && (this.#o.ignoreOldEvents ?? true);
    const { tracker, sink } = this.#o;
    tracker.applyAccountData(response.account_data?.events);

    for (const [roomId, invited] of Object.entries(response.rooms?.invite ?? {})) {
      // Joined rooms come after invites: one in both (a confused server) ends up joined, taken or not.
      if (taken?.has(roomId) === true) continue;
      const room = tracker.ensureRoom(roomId, "invite");
      const events = invited.invite_state?.events ?? [];
      for (const event of events) tracker.applyState(room, event);
      const own = findOwnInvite(events, tracker.userId);
      if (own.problem !== undefined) this.#log.warn({ roomId, problem: own.problem }, "invite without a trustworthy invite event: inviter unknown");
      this.#dispatch(batch, room, undefined, () => sink.onInvite(room, own.invite));
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
      const hint = hints?.get(roomId);
      // A timeline without a gap (nearly every one) needs no back-fill, nor the promise of one.
      const events = historical ? [] : hint ? await this.#news(roomId, joined.timeline, hint, signal) : joined.timeline?.limited ? await this.#fillGap(roomId, joined.timeline, this.#since, signal) : timeline;
      // A room a source shows for the first time may be an old one: joining is news only when the join is.
      const joinIsNews = !hint?.firstSight || events.some((e) => e.type === "m.room.member" && e.state_key === tracker.userId);
      if (!wasJoined && !initial && joinIsNews) this.#dispatch(batch, room, undefined, () => sink.onJoin(room));
      for (const event of events) this.#dispatchEvent(batch, room, event);
    }

    for (const [roomId, left] of Object.entries(response.rooms?.leave ?? {})) {
      const room = tracker.rooms.get(roomId) ?? tracker.ensureRoom(roomId, "leave");
      room.membership = "leave";
      const own = [...(left.timeline?.events ?? []), ...(left.state?.events ?? [])]
        .reverse()
        .find((e) => e.type === "m.room.member" && e.state_key === tracker.userId);
      if (own) own.room_id ??= roomId;
      this.#dispatch(batch, room, undefined, async () => {
        try {
          await sink.onLeave(room, own);
        } finally {
          tracker.forgetRoom(roomId);
        }
      });
    }
  }

  /**
   * The news of a room whose source gave a hint: the timeline after its
   * history (or after the newest handled event), back-filled when all of it
   * is news and it has a gap.
   */
  async #news(roomId: string, timeline: Timeline | undefined, hint: RoomHint, signal: AbortSignal): Promise<ClientEvent[]> {
    const events = timeline?.events ?? [];
    let history = Math.min(Math.max(0, hint.history), events.length);
    if (hint.afterHandled) {
      for (let i = events.length - 1; i >= 0; i--) {
        if (!(await this.#writes.isHandled(events[i]!.event_id))) continue;
        // Everything after a handled event is news; the handled ones are skipped by the dedupe anyway.
        history = Math.min(history, i + 1);
        break;
      }
    }
    if (history > 0) return events.slice(history);
    if (timeline?.limited && hint.gapTo === undefined) this.#log.warn({ roomId }, "gappy timeline with no position to back-fill to; older events skipped");
    return this.#fillGap(roomId, timeline, hint.gapTo, signal);
  }

  /** Back-fills a gappy timeline from `/messages` down to the previous token. */
  async #fillGap(roomId: string, timeline: Timeline | undefined, to: string | undefined, signal: AbortSignal): Promise<ClientEvent[]> {
    const events = timeline?.events ?? [];
    if (!timeline?.limited || !timeline.prev_batch || to === undefined) return events;
    const limit = this.#o.gapFillLimit ?? 500;
    const missed: ClientEvent[] = [];
    let from: string | undefined = timeline.prev_batch;
    try {
      while (from && missed.length < limit) {
        const page = await this.#o.api.sync.messages(roomId, { from, to, dir: "b", limit: 100 }, { signal });
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
    this.#dispatch(batch, room, event, () => this.#o.sink.onEvent(room, event));
  }

  /**
   * Queues one handler (bounded, in room order) without blocking the loop,
   * tracking it against its batch. The batch counts it done when it finishes
   * or overruns its deadline; a handler cut off by stop leaves it pending, so
   * the event runs again after a restart.
   */
  #dispatch(batch: Batch, room: Room, event: ClientEvent | undefined, run: () => Promise<void> | void): void {
    const eventId = event?.event_id;
    batch.pending++;
    const earlier = eventId === undefined ? undefined : this.#active.get(eventId);
    if (earlier) {
      // The same event from a response fetched again: wait for the first run instead of starting another.
      void earlier.then(() => this.#settle(batch));
      return;
    }
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    let finished = false;
    const finish = (counts: boolean): void => {
      if (finished) return;
      finished = true;
      this.#inFlight.delete(done);
      markDone();
      if (counts && !this.#detached) this.#settle(batch);
    };
    this.#inFlight.add(done);
    if (eventId !== undefined) this.#active.set(eventId, done);
    // Most handlers (every message that is not a command) never ask for their signal: made on demand.
    const controller = new LazyAbort();
    this.#controllers.add(controller);
    let counts = true;
    // The handler and its bookkeeping, without an async function's promise and awaits: an event
    // whose handlers are synchronous (most, the bot's own echoes included) costs only its record.
    const handle = (slot: SchedulerSlot): Promise<void> | undefined => {
      const deadline = this.#deadlines.after(() => {
        const error = new HandlerTimeoutError(room.roomId, eventId, this.#deadlineMs);
        controller.abort(error);
        slot.release();
        this.#report(error, { source: "handlerTimeout", room, event });
        finish(true);
      });
      const after = (): Promise<void> | undefined => {
        deadline.cancel();
        // The handler is done: the room's next event need not wait for this record to be written.
        slot.release();
        return eventId !== undefined && !this.#detached ? this.#writes.record(eventId) : undefined;
      };
      const failed = (error: unknown): Promise<void> | undefined => {
        if (this.#stopping && controller.aborted) {
          deadline.cancel();
          counts = false;
          return undefined;
        }
        // Sinks route handler errors themselves; this is a last resort.
        this.#report(error, { source: "dispatch", room, event });
        return after();
      };
      let ran: Promise<void> | void;
      try {
        // The handler context (its signal, parking) covers the handler only, not this bookkeeping.
        ran = runAsHandler(slot, run, undefined);
      } catch (error) {
        return failed(error);
      }
      return ran instanceof Promise ? ran.then(after, failed) : after();
    };
    const task = (slot: SchedulerSlot): Promise<void> | undefined => {
      if (this.#stopping) return void (counts = false);
      if (eventId === undefined) return handle(slot);
      // Waited for only when the store must be waited for (see `StoreWrites.isHandled`).
      const handled = this.#writes.isHandled(eventId);
      if (handled === true) return undefined;
      if (handled === false) return handle(slot);
      return handled.then((done) => (done ? undefined : handle(slot)));
    };
    this.#scheduler.schedule(room.roomId, task, () => controller.signal, (failed, error) => {
      if (failed) this.#log.error({ error, eventId }, "unexpected error while dispatching");
      this.#controllers.delete(controller);
      if (eventId !== undefined && this.#active.get(eventId) === done) this.#active.delete(eventId);
      finish(counts);
    });
  }

  #report(error: unknown, context: { source: string; room?: Room; event?: ClientEvent }): void {
    if (this.#o.sink.onError) this.#o.sink.onError(error, context);
    else this.#log.error({ error, source: context.source, roomId: context.room?.roomId, eventId: context.event?.event_id }, "sync engine error");
  }

  /** Marks one unit of a batch done and persists the newest fully handled position. */
  #settle(batch: Batch): void {
    batch.pending--;
    let moved = false;
    while (this.#batches[0] && this.#batches[0].pending === 0) {
      this.#watermark = this.#batches.shift()?.token;
      moved = true;
    }
    // Nothing new to write (a handler finished while its batch still waits for others): no write
    // queued, nor its promises. Changes recorded later are written when their own batch settles.
    if (moved || this.#o.tracker.hasChanges) this.#scheduleCommit();
  }

  /**
   * Before the next long poll, gives running handlers a moment (at most
   * {@link SYNC_COALESCE_MS}) to finish. A reply's own echo otherwise ends
   * the poll sent while the reply was on its way, one poll per echo; after
   * the wait the echoes and whatever else arrived meanwhile come in one
   * response, as they do for a loop that handles a batch before it syncs
   * again. A parked handler (a conversation waiting for the next event) does
   * not count, and the bound keeps a slow handler from holding up the others
   * for long.
   */
  async #settling(signal: AbortSignal): Promise<void> {
    if (this.#scheduler.idle || signal.aborted) return;
    // No listener on the signal either: stop() ends the wait itself.
    await new Promise<void>((resolve) => {
      const bound = this.#coalesce.after(resolve);
      this.#drained = () => {
        bound.cancel();
        resolve();
      };
    });
    this.#drained = undefined;
  }

  /** Queues one write; everything that changed until it runs goes into it. */
  #scheduleCommit(): void {
    if (this.#commitQueued || this.#detached) return;
    this.#commitQueued = true;
    this.#persist = this.#persist.then(() => this.#commit());
  }

  /**
   * Writes the position with the room changes, taken only now so that the
   * token never gets ahead of them; on failure they go back to the tracker.
   */
  async #commit(): Promise<void> {
    this.#commitQueued = false;
    if (this.#detached) return;
    const token = this.#watermark;
    const changes = this.#o.tracker.takeChanges();
    if (token === this.#savedToken && changes.length === 0) return;
    try {
      await this.#o.store.commitSync(token, changes);
      this.#savedToken = token;
      this.#writes.succeeded();
    } catch (error) {
      this.#o.tracker.restoreChanges(changes);
      this.#writes.failed(error);
    }
  }
}

/** An `AbortController` made only when its signal is first asked for (or it is aborted). */
class LazyAbort {
  #controller: AbortController | undefined;

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  get aborted(): boolean {
    return this.#controller?.signal.aborted ?? false;
  }

  abort(reason: unknown): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }
}
