/**
 * Handling pushed transactions with the sync engine's guarantees: events go
 * to the same {@link SyncSink} the sync loop feeds (commands, checks, DMs,
 * messaging work unchanged), at most `maxConcurrentHandlers` at once and one
 * room's events in order, each handler bounded by `handlerTimeoutMs`.
 *
 * Exactly-once, across crashes:
 * - a transaction resolves only when every handler of it has finished (or
 *   overrun its deadline); only then does the server acknowledge it;
 * - each finished event id is recorded in the store's handled-event list, and
 *   the transaction id after all of them: a transaction sent again after a
 *   restart is acknowledged without running anything, and one cut off halfway
 *   runs only the events that had not finished;
 * - sends made by a handler carry transaction ids derived from the event, so
 *   a handler run again after a crash does not post its answer twice.
 *
 * @module
 */
import type { ClientEvent, StrippedStateEvent } from "../api/events.js";
import { isClientEvent } from "../api/events.js";
import { MatrixError } from "../api/errors.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { DEFAULT_HANDLER_TIMEOUT_MS, DEFAULT_MAX_CONCURRENT_HANDLERS, type SyncSink } from "../sync/engine.js";
import { HandlerTimeoutError } from "../sync/errors.js";
import type { Room } from "../sync/room.js";
import { HandlerScheduler } from "../sync/scheduler.js";
import type { RoomTracker } from "../sync/tracker.js";
import { StoreWrites } from "../sync/writes.js";
import type { TransactionBody } from "./server.js";

/** Options of a {@link TransactionEngine}. */
export interface TransactionEngineOptions {
  store: Store;
  tracker: RoomTracker;
  sink: SyncSink;
  log: Logger;
  maxConcurrentHandlers?: number;
  handlerTimeoutMs?: number;
  /** Skip events older than this (default: handle all). */
  maxEventAgeMs?: number;
  /** How long `stop()` waits for running handlers before leaving them unrecorded (default 5 s). */
  stopGraceMs?: number;
  /**
   * The full state of a room the bot just joined. Transactions carry only new
   * events, and the send path must know whether the room is encrypted.
   */
  loadRoomState(roomId: string): Promise<unknown[]>;
  /** Events of rooms the bot's main user is not joined to (rooms of virtual users only). */
  onOtherRoomEvent?: (event: ClientEvent) => Promise<void> | void;
}

/** A transaction could not be handled completely; the homeserver will send it again. */
export class TransactionIncompleteError extends Error {
  override readonly name = "TransactionIncompleteError";
  constructor(readonly txnId: string, readonly unfinished: number) {
    super(`transaction ${txnId}: ${unfinished} handler(s) did not finish; not acknowledged`);
  }
}

/** One queued handler run; `done` is true once it counts as handled (see {@link TransactionEngine}). */
interface Unit {
  done: Promise<boolean>;
}

/** Store key of the recently handled transaction ids (a JSON array, newest last). */
const TXN_KEY = "appservice.transactions";
/** Transaction ids remembered: Synapse resends only its oldest unacknowledged one, so a few suffice; kept generous. */
const TXNS_KEPT = 1000;
/** Rooms remembered as not joined before the memory is cleared (a lookup each, again, after that). */
const NOT_JOINED_KEPT = 10_000;
/** Most events taken from one transaction (Synapse sends at most 100). */
const MAX_EVENTS = 10_000;

/** Turns transactions into handler runs. */
export class TransactionEngine {
  readonly #o: TransactionEngineOptions;
  readonly #scheduler: HandlerScheduler;
  readonly #writes: StoreWrites;
  readonly #controllers = new Set<AbortController>();
  #handled: string[] | undefined;
  #stopping = false;
  /** Past stop's grace period: late completions no longer touch the store. */
  #detached = false;
  /** Settles of running handlers, so stop can count the stragglers as unfinished. */
  readonly #pending = new Set<(finished: boolean) => void>();
  /** Rooms a lookup found the bot not joined to (rooms of virtual users only), so each costs one lookup. */
  readonly #notJoined = new Set<string>();
  /** Transactions in progress: a resend while one is running waits for it instead of running twice. */
  readonly #running = new Map<string, Promise<void>>();

  constructor(options: TransactionEngineOptions) {
    this.#o = options;
    this.#scheduler = new HandlerScheduler(options.maxConcurrentHandlers ?? DEFAULT_MAX_CONCURRENT_HANDLERS);
    this.#writes = new StoreWrites({
      store: options.store,
      log: options.log,
      report: (error) => this.#report(error, { source: "store" }),
      retry: () => undefined,
      initialBackoffMs: 1_000,
      maxBackoffMs: 60_000,
    });
  }

  /** Loads the handled transaction ids. */
  async start(): Promise<void> {
    this.#stopping = false;
    this.#detached = false;
    this.#writes.start();
    const stored = await this.#o.store.getValue(TXN_KEY);
    let list: unknown = [];
    try {
      list = stored === undefined ? [] : JSON.parse(stored);
    } catch {
      this.#o.log.warn({}, "stored appservice transaction ids unreadable; starting afresh");
    }
    this.#handled = Array.isArray(list) ? list.filter((x): x is string => typeof x === "string") : [];
  }

  /** Aborts running handlers; what they did not finish runs again when the homeserver resends. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const controller of this.#controllers) controller.abort(new DOMException("the bot is stopping", "AbortError"));
    const running = Promise.allSettled([...this.#running.values()]);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#o.stopGraceMs ?? 5_000)));
    await Promise.race([running, grace]);
    clearTimeout(timer);
    // Handlers that ignore their signal: unrecorded, so they run again when the homeserver resends.
    this.#detached = true;
    for (const settle of [...this.#pending]) settle(false);
    await running;
    this.#writes.stop();
    await this.#writes.retryRecords();
  }

  /**
   * Handles one transaction; resolves when it may be acknowledged.
   *
   * @throws {@link TransactionIncompleteError} when handlers were cut off (stopping).
   */
  handle(txnId: string, body: TransactionBody): Promise<void> {
    const running = this.#running.get(txnId);
    if (running) return running;
    const work = this.#handle(txnId, body).finally(() => this.#running.delete(txnId));
    this.#running.set(txnId, work);
    return work;
  }

  async #handle(txnId: string, body: TransactionBody): Promise<void> {
    if (!this.#handled) throw new Error("the transaction engine has not been started");
    if (this.#handled.includes(txnId)) {
      this.#o.log.debug({ txnId }, "transaction already handled; acknowledging again");
      return;
    }
    const raw = Array.isArray(body.events) ? (body.events as unknown[]) : [];
    const events = raw.slice(0, MAX_EVENTS).filter((e): e is ClientEvent => isClientEvent(e) && typeof (e as { room_id?: unknown }).room_id === "string");
    if (events.length < raw.length) this.#o.log.warn({ txnId, dropped: raw.length - events.length }, "dropped malformed events of a transaction");
    const units: Promise<boolean>[] = [];
    let complete = true;
    try {
      // Applied in order (a join loads the room's state before the next event is looked at); handlers run concurrently.
      for (const event of events) {
        const unit = await this.#apply(event);
        if (unit) units.push(unit.done);
      }
    } catch (error) {
      complete = false;
      this.#report(error, { source: "appservice" });
    }
    const finished = await Promise.all(units);
    if (!complete) finished.push(false);
    const unfinished = finished.filter((ok) => !ok).length;
    await this.#persistRoomChanges();
    if (unfinished > 0) throw new TransactionIncompleteError(txnId, unfinished);
    this.#handled.push(txnId);
    if (this.#handled.length > TXNS_KEPT) this.#handled.splice(0, this.#handled.length - TXNS_KEPT);
    // Written before the acknowledgement: a crash between the two only costs a resend that does nothing.
    await this.#o.store.setValue(TXN_KEY, JSON.stringify(this.#handled));
  }

  /** Applies one event to the room view and queues what it triggers; undefined when it triggers nothing. */
  async #apply(event: ClientEvent): Promise<Unit | undefined> {
    const { tracker, sink } = this.#o;
    const roomId = event.room_id;
    const own = event.type === "m.room.member" && event.state_key === tracker.userId;
    if (own) {
      const membership = (event.content as { membership?: unknown }).membership;
      if (membership === "invite") {
        const room = tracker.ensureRoom(roomId, "invite");
        tracker.applyState(room, event);
        // A real room event, from the homeserver itself: its sender is the inviter.
        const invite: StrippedStateEvent = { type: event.type, state_key: tracker.userId, sender: event.sender, content: event.content };
        return this.#dispatch(room, event, () => sink.onInvite(room, invite));
      }
      if (membership === "join") {
        const wasJoined = tracker.rooms.get(roomId)?.membership === "join";
        this.#notJoined.delete(roomId);
        if (wasJoined) return this.#dispatchEvent(tracker.ensureRoom(roomId, "join"), event);
        // Before the room counts as joined: a send into it must know its encryption. A failure leaves the transaction unacknowledged.
        const state = await this.#o.loadRoomState(roomId);
        const room = tracker.ensureRoom(roomId, "join");
        for (const item of state) if (isClientEvent(item)) tracker.applyState(room, item);
        tracker.applyState(room, event);
        return this.#dispatch(room, event, async () => {
          await sink.onJoin(room);
          await sink.onEvent(room, event);
        });
      }
      if (membership === "leave" || membership === "ban") {
        const room = tracker.rooms.get(roomId) ?? tracker.ensureRoom(roomId, "leave");
        room.membership = "leave";
        return this.#dispatch(room, event, async () => {
          try {
            await sink.onLeave(room, event);
          } finally {
            tracker.forgetRoom(roomId);
          }
        });
      }
    }
    const room = tracker.rooms.get(roomId) ?? (this.#notJoined.has(roomId) ? undefined : await this.#discover(roomId));
    if (room?.membership === "join") {
      tracker.applyState(room, event);
      return this.#dispatchEvent(room, event);
    }
    const other = this.#o.onOtherRoomEvent;
    if (!other) return undefined;
    // Keyed by room like the rest, so a virtual user's room also sees its events in order.
    return { done: this.#run(roomId, event, undefined, () => other(event)) };
  }

  /**
   * A room the store does not know (joined before appservice mode, or the store
   * was lost): one state lookup tells whether the bot is in it, so its events
   * are not silently dropped. A definite "not a member" is remembered; any
   * other failure leaves the transaction unacknowledged.
   */
  async #discover(roomId: string): Promise<Room | undefined> {
    const { tracker } = this.#o;
    let state: unknown[];
    try {
      state = await this.#o.loadRoomState(roomId);
    } catch (error) {
      if (!(error instanceof MatrixError && (error.status === 403 || error.status === 404))) throw error;
      state = [];
    }
    const own = state.find((e): e is ClientEvent => isClientEvent(e) && e.type === "m.room.member" && e.state_key === tracker.userId);
    // A left room still answers with the state at the time of leaving: only a current join counts.
    if ((own?.content as { membership?: unknown } | undefined)?.membership !== "join") {
      if (this.#notJoined.size >= NOT_JOINED_KEPT) this.#notJoined.clear();
      this.#notJoined.add(roomId);
      return undefined;
    }
    const room = tracker.ensureRoom(roomId, "join");
    for (const item of state) if (isClientEvent(item)) tracker.applyState(room, item);
    this.#o.log.info({ roomId }, "found a joined room the store did not know");
    return room;
  }

  #dispatchEvent(room: Room, event: ClientEvent): Unit | undefined {
    const maxAge = this.#o.maxEventAgeMs;
    if (maxAge !== undefined && Date.now() - event.origin_server_ts > maxAge) return undefined;
    return this.#dispatch(room, event, () => this.#o.sink.onEvent(room, event));
  }

  #dispatch(room: Room, event: ClientEvent, run: () => Promise<void> | void): Unit {
    return { done: this.#run(room.roomId, event, room, run) };
  }

  /**
   * Runs one handler in its room's turn; resolves true once it counts as done
   * (finished, failed and reported, or past its deadline), false when it was
   * cut off by stop and must run again.
   */
  #run(key: string, event: ClientEvent, room: Room | undefined, run: () => Promise<void> | void): Promise<boolean> {
    const eventId = event.event_id;
    const controller = new AbortController();
    this.#controllers.add(controller);
    return new Promise<boolean>((resolve) => {
      const settle = (finished: boolean): void => {
        this.#pending.delete(settle);
        resolve(finished);
      };
      this.#pending.add(settle);
      const task = async (slot: { release(): void }): Promise<void> => {
        if (this.#stopping) return settle(false);
        if (await this.#writes.isHandled(eventId)) return settle(true);
        const timeoutMs = this.#o.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
        const timer = setTimeout(() => {
          const error = new HandlerTimeoutError(key, eventId, timeoutMs);
          controller.abort(error);
          slot.release();
          this.#report(error, { source: "handlerTimeout", room, event });
          settle(true);
        }, timeoutMs);
        timer.unref?.();
        try {
          await run();
        } catch (error) {
          if (this.#stopping && controller.signal.aborted) return settle(false);
          this.#report(error, { source: "dispatch", room, event });
        } finally {
          clearTimeout(timer);
        }
        slot.release();
        if (!this.#detached) await this.#writes.record(eventId);
        settle(true);
      };
      this.#scheduler
        .run(key, task, controller.signal)
        .catch((error: unknown) => {
          this.#o.log.error({ error, eventId }, "unexpected error while dispatching");
          settle(false);
        })
        .finally(() => this.#controllers.delete(controller));
    });
  }

  async #persistRoomChanges(): Promise<void> {
    const changes = this.#o.tracker.takeChanges();
    if (changes.length === 0) return;
    try {
      // No sync position in appservice mode: the stored token stays as it is.
      await this.#o.store.commitSync(await this.#o.store.getSyncToken(), changes);
    } catch (error) {
      this.#o.tracker.restoreChanges(changes);
      this.#report(error, { source: "store" });
      // Not acknowledged: a restart before the next write must not forget the rooms joined here.
      throw error;
    }
  }

  #report(error: unknown, context: { source: string; room?: Room; event?: ClientEvent }): void {
    if (this.#o.sink.onError) this.#o.sink.onError(error, context);
    else this.#o.log.error({ error, source: context.source, roomId: context.room?.roomId, eventId: context.event?.event_id }, "appservice transaction error");
  }
}
