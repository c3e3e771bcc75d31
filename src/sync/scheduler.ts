/**
 * Runs event handlers with a bounded concurrency, in order per room.
 *
 * Work for one key (a room) starts only once the previous work of that key
 * has finished, been parked or overrun its deadline, and no more than `limit`
 * pieces of work run at once. A handler that waits for a later event (a
 * conversation, `bot.waitForEvent`) *parks*: it gives up its room's turn and
 * its slot while it waits, so the event it waits for can run. Without that, a
 * handler waiting for the next message of its own room would wait for itself.
 *
 * @module
 */
import { currentHandler, runAsHandler, type RunningHandler } from "../delivery/context.js";

/**
 * The abort signal of the event handler running in the current async context,
 * or undefined outside one. It aborts when the handler overruns its deadline
 * (`handlerTimeoutMs`) and when the bot stops; pass it to work that can block.
 *
 * @example
 * bot.on("message", async (room, event) => {
 *   const response = await fetch(url, { signal: handlerSignal() });
 * });
 */
export function handlerSignal(): AbortSignal | undefined {
  return currentHandler()?.signal;
}

/**
 * Lets the events after the current handler run while it waits for `work`.
 * Used by `bot.waitForEvent` (and so by `waitForMessage`); the handler does
 * not take its turn back when the wait ends, so it can never wait for itself.
 */
export function parked<T>(work: Promise<T>): Promise<T> {
  currentHandler()?.release();
  return work;
}

/** Work queued for one key. */
interface KeyQueue {
  readonly key: string;
  readonly tasks: (() => void)[];
  /** A task of this key holds its turn. */
  busy: boolean;
  /** The queue is in the ready list. */
  ready: boolean;
}

/**
 * A handle a running piece of work gets: its signal (what {@link handlerSignal} gives inside a
 * handler context entered with it) and a way to give up its turn early.
 */
export interface SchedulerSlot extends RunningHandler {
  /** Frees the key's turn and the concurrency slot (idempotent). */
  release(): void;
}

/**
 * Bounded, per-key ordered execution.
 *
 * @example
 * const scheduler = new HandlerScheduler(32);
 * await scheduler.run(roomId, async () => handle(event), signal);
 */
export class HandlerScheduler {
  readonly #limit: number;
  #running = 0;
  readonly #queues = new Map<string, KeyQueue>();
  /** Keys whose next task may start, oldest first (round-robin over rooms). */
  readonly #ready: KeyQueue[] = [];

  /**
   * @param limit pieces of work running at once.
   * @param onIdle called whenever the last running piece of work finishes or parks with nothing queued.
   */
  constructor(limit: number, private readonly onIdle?: () => void) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the handler concurrency limit must be a positive integer, not ${limit}`);
    this.#limit = limit;
  }

  /** Whether no work holds a slot and none waits for one (parked work does not count). */
  get idle(): boolean {
    return this.#running === 0 && this.#ready.length === 0;
  }

  /** Pieces of work holding a slot now. */
  get running(): number {
    return this.#running;
  }

  /** Pieces of work waiting for their turn. */
  get queued(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.tasks.length;
    return n;
  }

  /**
   * Queues `work` behind earlier work of `key`; settles as `work` does.
   * `signal` is what {@link handlerSignal} gives inside `work` (a function: asked for only then).
   */
  run<T>(key: string, work: (slot: SchedulerSlot) => Promise<T>, signal: AbortSignal | (() => AbortSignal)): Promise<T> {
    const handler = (slot: SchedulerSlot): Promise<T> => runAsHandler(slot, work, slot);
    return new Promise<T>((resolve, reject) => this.schedule(key, handler, signal, (failed, value) => (failed ? reject(value) : resolve(value as T))));
  }

  /**
   * {@link HandlerScheduler.run} without a promise of its own (the sync engine's path, once per
   * event): `settled` is called once `work` has settled and its slot is free, `failed` telling
   * whether `value` is its result or its error. Unlike `run`, `work` is not entered as a handler
   * context: it enters one itself (`runAsHandler(slot, ...)`) around what needs it, so that its
   * own bookkeeping around the handler runs without one (see `delivery/context.ts` for the cost).
   */
  schedule<T>(key: string, work: (slot: SchedulerSlot) => Promise<T> | T, signal: AbortSignal | (() => AbortSignal), settled: (failed: boolean, value: unknown) => void): void {
    let queue = this.#queues.get(key);
    if (!queue) this.#queues.set(key, (queue = { key, tasks: [], busy: false, ready: false }));
    const q = queue;
    q.tasks.push(() => {
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        this.#running--;
        q.busy = false;
        this.#enqueue(q);
        this.#pump();
        if (this.idle) this.onIdle?.();
      };
      this.#running++;
      q.busy = true;
      const slot: SchedulerSlot = { get signal() { return typeof signal === "function" ? signal() : signal; }, release };
      let result: Promise<T>;
      try {
        result = Promise.resolve(work(slot));
      } catch (error) {
        // A synchronous throw settles like an async one, after the current task.
        result = Promise.reject(error);
      }
      result.then(
        (value) => (release(), settled(false, value)),
        (error: unknown) => (release(), settled(true, error)),
      );
    });
    this.#enqueue(q);
    this.#pump();
  }

  #enqueue(queue: KeyQueue): void {
    if (queue.busy || queue.ready) return;
    if (queue.tasks.length === 0) {
      this.#queues.delete(queue.key);
      return;
    }
    queue.ready = true;
    this.#ready.push(queue);
  }

  #pump(): void {
    while (this.#running < this.#limit && this.#ready.length > 0) {
      const queue = this.#ready.shift() as KeyQueue;
      queue.ready = false;
      const task = queue.tasks.shift();
      if (task) task();
      else this.#enqueue(queue);
    }
  }
}
