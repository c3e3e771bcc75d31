/** Small async primitives shared by every layer. */

/** Rejects with the signal's reason; the error callers see when they abort. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

/** Tells whether an error was caused by an `AbortSignal`. */
export function isAbortError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === "AbortError" || error.name === "TimeoutError")
  );
}

/**
 * Waits `ms` milliseconds, or rejects as soon as `signal` aborts.
 *
 * Without the signal a stopped bot would sit out a whole backoff delay.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Capped exponential backoff with jitter: attempt 0 waits about `initialMs`. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** attempt);
  // Jitter keeps many bots that lost the same server from retrying in lockstep.
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Where work with no predecessor starts: after the current task, as behind a settled one. */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Serializes async work per key: work for one key runs one at a time, in
 * call order; different keys run concurrently.
 *
 * @example
 * const locks = new KeyedMutex();
 * await locks.run(roomId, async () => { ... });
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `work` once every earlier call with the same key has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    // Two promises per call (every send goes through one), not four: a shared resolved start, and
    // one tail that both waits for `result` (whatever its outcome) and forgets the settled key.
    const previous = this.#tails.get(key) ?? RESOLVED;
    const result = previous.then(work, work);
    const forget = (): void => {
      // Forget settled keys so the map grows with concurrency, not with history.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    const tail: Promise<void> = result.then(forget, forget);
    this.#tails.set(key, tail);
    return result;
  }

  /** Number of keys with work queued or running. */
  get size(): number {
    return this.#tails.size;
  }
}

/** Combines optional abort signals into one (undefined when there are none). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return AbortSignal.any(present);
}
