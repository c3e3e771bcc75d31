/**
 * Cooldowns: at most `uses` invocations per `windowMs`, counted per user, per room or globally.
 *
 * @module
 */

/** What a cooldown counts separately. */
export type CooldownScope = "user" | "room" | "global";

/**
 * A command's rate limit.
 *
 * @example
 * { uses: 2, windowMs: 10_000, per: "user" } // each user may run it twice per 10 s
 */
export interface CooldownOptions {
  /** Invocations allowed per window (default 1). */
  readonly uses?: number;
  /** Window length in milliseconds; it starts at the first use in a bucket. */
  readonly windowMs: number;
  /** What is counted separately (default `"user"`). */
  readonly per?: CooldownScope;
}

interface Bucket {
  start: number;
  used: number;
}

/**
 * The live buckets of one cooldown. Fixed windows: a bucket's window opens at its first use and
 * resets `windowMs` later. Memory is bounded by the buckets used within the last window:
 * expired ones are swept at most once per window, so the cost stays amortised O(1) per use.
 */
export class CooldownBuckets {
  readonly uses: number;
  readonly windowMs: number;
  readonly per: CooldownScope;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  #nextSweep = 0;

  /** @param now - clock, injectable for tests. */
  constructor(options: CooldownOptions, now: () => number = Date.now) {
    const uses = options.uses ?? 1;
    if (!Number.isInteger(uses) || uses < 1) throw new RangeError(`cooldown uses must be a positive integer, got ${uses}`);
    if (!(options.windowMs > 0) || !Number.isFinite(options.windowMs)) throw new RangeError(`cooldown windowMs must be a positive number, got ${options.windowMs}`);
    this.uses = uses;
    this.windowMs = options.windowMs;
    this.per = options.per ?? "user";
    this.#now = now;
  }

  /** The bucket key of an invocation. */
  keyOf(invocation: { readonly roomId: string; readonly sender: string }): string {
    switch (this.per) {
      case "user": return invocation.sender;
      case "room": return invocation.roomId;
      case "global": return "";
    }
  }

  /**
   * Takes one use from a bucket. Returns 0 when allowed, else the milliseconds until the next
   * use is allowed (nothing is taken then).
   */
  take(key: string): number {
    const now = this.#now();
    if (now >= this.#nextSweep) this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined || now - bucket.start >= this.windowMs) {
      bucket = { start: now, used: 0 };
      this.#buckets.set(key, bucket);
    }
    if (bucket.used >= this.uses) return Math.max(1, bucket.start + this.windowMs - now);
    bucket.used++;
    return 0;
  }

  /** Milliseconds until a bucket allows a use again (0 if it does now); takes nothing. */
  retryAfter(key: string): number {
    const bucket = this.#buckets.get(key);
    const now = this.#now();
    if (bucket === undefined || now - bucket.start >= this.windowMs || bucket.used < this.uses) return 0;
    return Math.max(1, bucket.start + this.windowMs - now);
  }

  /** Forgets a bucket (or every bucket), e.g. to lift a cooldown early. */
  reset(key?: string): void {
    if (key === undefined) this.#buckets.clear();
    else this.#buckets.delete(key);
  }

  /** Number of buckets held in memory. */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.start >= this.windowMs) this.#buckets.delete(key);
    }
    this.#nextSweep = now + this.windowMs;
  }
}
