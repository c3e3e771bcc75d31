/**
 * Many deadlines of one duration on one timer.
 *
 * Every handled event has a deadline, and almost all of them are cancelled long before it: a
 * `setTimeout`/`clearTimeout` pair per event is a timer object, a timer-list insertion and an
 * async resource each time. Deadlines of one duration expire in the order they were set, so a
 * queue in insertion order and a single timer armed for its head are enough: cancelling is a
 * set deletion, and the timer runs once per deadline that actually comes (or whose head was
 * cancelled meanwhile, to re-arm for the next one).
 *
 * @module
 */

/** A pending deadline; `cancel` is idempotent. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  readonly at: number;
  readonly fire: () => void;
}

/**
 * Deadlines `ms` after they are set, all of one duration, sharing one timer: unreferenced (a
 * deadline is no reason to keep the process alive) unless `keepAlive` says it is one.
 *
 * @example
 * const lane = new DeadlineLane(10_000);
 * const deadline = lane.after(() => console.log("too slow"));
 * deadline.cancel();
 */
export class DeadlineLane {
  readonly #ms: number;
  /** Pending deadlines, earliest first (insertion order is deadline order). */
  readonly #pending = new Set<Entry>();
  #timer: NodeJS.Timeout | undefined;

  readonly #now: () => number;
  readonly #keepAlive: boolean;

  /**
   * @param now - the clock in ms (tests pass their own).
   * @param options - `keepAlive`: the timer keeps the process alive, as a `setTimeout` would.
   */
  constructor(ms: number, now: () => number = () => performance.now(), options: { keepAlive?: boolean } = {}) {
    this.#ms = ms;
    this.#now = now;
    this.#keepAlive = options.keepAlive === true;
  }

  /** Deadlines not yet cancelled nor expired. */
  get size(): number {
    return this.#pending.size;
  }

  /** Calls `fire` `ms` from now unless cancelled first. */
  after(fire: () => void): Deadline {
    const pending = this.#pending;
    const entry: Entry = { at: this.#now() + this.#ms, fire, cancel: () => void pending.delete(entry) };
    pending.add(entry);
    if (this.#timer === undefined) this.#arm(this.#ms);
    return entry;
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, ms));
    if (!this.#keepAlive) this.#timer.unref?.();
  }

  #expire(): void {
    this.#timer = undefined;
    // Timers round to whole milliseconds, so a deadline within one counts as come.
    const now = this.#now() + 1;
    for (const entry of this.#pending) {
      if (entry.at > now) return this.#arm(entry.at - now + 1);
      this.#pending.delete(entry);
      try {
        entry.fire();
      } catch (error) {
        // The others still come; the error goes where a timer's would.
        this.#arm(0);
        throw error;
      }
    }
  }

  /** Cancels every pending deadline. */
  clear(): void {
    this.#pending.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
