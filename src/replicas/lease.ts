/**
 * The lease that makes one of several replicas of a bot the active one.
 *
 * It is a row in the bot's schema (`lease`: holder, fencing number, expiry),
 * not an advisory lock: a lock dies with its connection, so a database
 * restart or a network blip would silently hand it to another replica,
 * while a row survives both and carries the fencing number.
 *
 * - **Acquire**: a standby polls (every `renewMs`) and takes the row when it
 *   has expired (in the database's clock, so replicas' clocks do not
 *   matter), incrementing the fencing number.
 * - **Renew**: the holder extends the expiry every `renewMs` (default a
 *   third of `leaseMs`), only while the row still has its holder id and fence.
 * - **Validity** is judged locally too, on the monotonic clock: the lease
 *   counts as held until `leaseMs` after the start of the last successful
 *   renewal, minus a safety margin. A process frozen past that (SIGSTOP, a
 *   long GC pause, a partition) finds the lease lost before it does anything
 *   else, and every write it still attempts is refused by the database
 *   (`fence_check`, see `src/storage/postgres/schema.ts`).
 * - **Release** on a clean stop expires the row at once, so a standby takes
 *   over within one poll instead of a lease time.
 *
 * @module
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Sql } from "postgres";
import type { Logger } from "../logging/logger.js";

/** Lease settings (bot option `replicas`). */
export interface LeaseOptions {
  /** How long a lease lasts without renewal: a dead replica is replaced within this (default 10 000 ms). */
  leaseMs?: number;
  /** How often the holder renews and standbys poll (default `leaseMs / 3`). */
  renewMs?: number;
  /** This replica's name in the lease row and the logs (default `host:pid:random`). */
  holder?: string;
}

/** The lease is not (or no longer) held: this replica must not write or send. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  readonly errcode = "LEASE_LOST";
  constructor(readonly holder: string, readonly fence: number | undefined) {
    super(`this replica (${holder}) does not hold the lease${fence === undefined ? "" : ` (fencing number ${fence} is stale)`}; another replica is active`);
  }
}

/** The lease of one replica. */
export class Lease {
  readonly holder: string;
  readonly leaseMs: number;
  readonly renewMs: number;
  #fence: number | undefined;
  /** Until when (performance.now()) the lease is surely still ours. */
  #validUntil = 0;
  #lost = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #onLost = new Set<(reason: string) => void>();

  constructor(private readonly sql: Sql, private readonly log: Logger, options: LeaseOptions = {}) {
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewMs = options.renewMs ?? Math.max(100, Math.floor(this.leaseMs / 3));
    if (this.renewMs >= this.leaseMs) throw new RangeError("replicas.renewMs must be shorter than leaseMs");
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  }

  /** The fencing number of the held lease (undefined before it is acquired). */
  get fence(): number | undefined {
    return this.#fence;
  }

  /** Whether the lease is held right now (acquired, not lost, not locally expired). */
  get held(): boolean {
    if (this.#fence === undefined || this.#lost) return false;
    if (performance.now() >= this.#validUntil) {
      this.#lose("the lease expired before it could be renewed");
      return false;
    }
    return true;
  }

  /** Whether the lease was held and then lost. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Throws {@link LeaseLostError} unless the lease is held; every send checks this first. */
  assertHeld(): void {
    if (!this.held) throw new LeaseLostError(this.holder, this.#fence);
  }

  /** Calls `listener` once when the lease is lost; returns an unsubscribe. */
  onLost(listener: (reason: string) => void): () => void {
    this.#onLost.add(listener);
    return () => this.#onLost.delete(listener);
  }

  /**
   * Waits until this replica holds the lease; resolves with the fencing
   * number and the replica it took over from.
   */
  async acquire(signal?: AbortSignal): Promise<{ fence: number; previous: string | undefined }> {
    let waitingLogged = false;
    for (;;) {
      signal?.throwIfAborted();
      const started = performance.now();
      try {
        const [row] = await this.sql<{ fence: string; previous: string | null; expired: boolean }[]>`
          WITH old AS (SELECT holder, expires_at FROM lease WHERE id = 1 FOR UPDATE)
          UPDATE lease SET holder = ${this.holder}, fence = lease.fence + 1,
            expires_at = now() + ${this.leaseMs} * interval '1 millisecond', acquired_at = now()
          FROM old WHERE lease.id = 1 AND (old.expires_at < now() OR old.holder IS NULL)
          RETURNING lease.fence, old.holder AS previous, true AS expired`;
        if (row) {
          this.#fence = Number(row.fence);
          this.#validUntil = started + this.leaseMs - this.#margin;
          this.#lost = false;
          this.#schedule();
          return { fence: this.#fence, previous: row.previous ?? undefined };
        }
        if (!waitingLogged) {
          const [current] = await this.sql<{ holder: string | null }[]>`SELECT holder FROM lease WHERE id = 1`;
          this.log.info({ holder: this.holder, active: current?.holder ?? undefined }, "standing by: another replica holds the lease");
          waitingLogged = true;
        }
      } catch (error) {
        this.log.warn({ error: error instanceof Error ? error.message : String(error) }, "cannot reach the database to acquire the lease; retrying");
      }
      await sleep(this.renewMs, signal);
    }
  }

  /** Gives the lease up (a clean stop): a standby takes over at its next poll. */
  async release(): Promise<void> {
    this.#stopTimer();
    const fence = this.#fence;
    if (fence === undefined || this.#lost) return;
    this.#lost = true;
    await this.sql`UPDATE lease SET expires_at = '-infinity', holder = NULL WHERE id = 1 AND holder = ${this.holder} AND fence = ${fence}`.catch(() => undefined);
  }

  /** A safety margin against clock drift between here and the database: a tenth of the lease. */
  get #margin(): number {
    return Math.min(1_000, this.leaseMs / 10);
  }

  #schedule(): void {
    this.#stopTimer();
    this.#timer = setTimeout(() => void this.#renew(), this.renewMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #renew(): Promise<void> {
    // A frozen process wakes up here late: it must notice before renewing.
    if (!this.held) return;
    const fence = this.#fence;
    const started = performance.now();
    try {
      const rows = await this.sql`UPDATE lease SET expires_at = now() + ${this.leaseMs} * interval '1 millisecond'
        WHERE id = 1 AND holder = ${this.holder} AND fence = ${fence!} RETURNING 1`;
      if (rows.length === 0) {
        this.#lose("another replica took the lease");
        return;
      }
      if (!this.#lost) this.#validUntil = started + this.leaseMs - this.#margin;
    } catch (error) {
      // The database is unreachable: keep trying while the lease lasts (held checks the clock).
      this.log.warn({ error: error instanceof Error ? error.message : String(error) }, "cannot renew the lease; retrying");
    }
    if (this.held) this.#schedule();
  }

  #lose(reason: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#stopTimer();
    this.log.warn({ holder: this.holder, fence: this.#fence, reason }, "lost the lease: this replica stops being active");
    for (const listener of this.#onLost) listener(reason);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
