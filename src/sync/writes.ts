/**
 * The sync engine's store writes, made survivable: a full disk or an I/O
 * error is reported once per run of failures (not thrown into a task nobody
 * awaits, which would end the process), and retried with backoff while the
 * bot keeps running, degraded.
 *
 * @module
 */
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { backoffDelay } from "../util/async.js";

/** What {@link StoreWrites} needs from the engine. */
export interface StoreWritesOptions {
  store: Store;
  log: Logger;
  /** The first failure of a run goes to the error funnel. */
  report(error: unknown): void;
  /** Called when a retry is due (the engine writes its position again). */
  retry(): void;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/** Handled-event records and failure bookkeeping of one engine run. */
export class StoreWrites {
  readonly #o: StoreWritesOptions;
  /** Handled events whose record failed to be written. */
  readonly #unrecorded = new Set<string>();
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: StoreWritesOptions) {
    this.#o = options;
  }

  /**
   * Whether an event was handled; a store that cannot tell means "no": at least once beats never.
   * A plain boolean when the store answers at once ({@link Store.isHandledNow}): once per event,
   * no promise at all.
   */
  isHandled(eventId: string): Promise<boolean> | boolean {
    const failed = (error: unknown): boolean => (this.failed(error), false);
    const { store } = this.#o;
    try {
      if (store.isHandledNow) return store.isHandledNow(eventId);
      // One promise, not an async function's and its await's.
      return store.isHandled(eventId).then(undefined, failed);
    } catch (error) {
      return store.isHandledNow ? failed(error) : Promise.resolve(failed(error));
    }
  }

  /** Records a handled event; a failed write is kept and retried. */
  record(eventId: string): Promise<void> {
    const failed = (error: unknown): void => {
      this.#unrecorded.add(eventId);
      this.failed(error);
    };
    try {
      return this.#o.store.markHandled(eventId).then(undefined, failed);
    } catch (error) {
      return Promise.resolve(failed(error));
    }
  }

  /** Writes the records that failed before; stops at the first failure. */
  async retryRecords(): Promise<void> {
    if (this.#unrecorded.size === 0) return;
    for (const eventId of [...this.#unrecorded]) {
      try {
        await this.#o.store.markHandled(eventId);
        this.#unrecorded.delete(eventId);
      } catch (error) {
        this.failed(error);
        return;
      }
    }
    this.succeeded();
  }

  /** A write failed: reported if it is the first of a run, and a retry is scheduled. */
  failed(error: unknown): void {
    if (this.#failures++ === 0) this.#o.report(error);
    else this.#o.log.warn({ error: (error as Error)?.message, failures: this.#failures }, "store write failed again");
    if (this.#timer !== undefined || this.#stopped) return;
    const delay = backoffDelay(this.#failures - 1, this.#o.initialBackoffMs, this.#o.maxBackoffMs);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.retryRecords();
      this.#o.retry();
    }, delay);
    this.#timer.unref?.();
  }

  /** A write succeeded: once nothing is left to retry, the run of failures is over. */
  succeeded(): void {
    if (this.#failures === 0 || this.#unrecorded.size > 0) return;
    this.#o.log.info({ failures: this.#failures }, "store writes work again");
    this.#failures = 0;
  }

  /** Starts a new engine run. */
  start(): void {
    this.#stopped = false;
  }

  /** No more retries: the engine is stopping (one last attempt is the caller's). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
