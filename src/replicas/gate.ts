/**
 * What the bot does with a lease: waits for it before logging in (a warm
 * standby), fences the store with its number, refuses every HTTP request
 * once it is gone, and reports active / standby / unhealthy.
 *
 * @module
 */
import type { FetchLike } from "../api/http.js";
import { nodeTransport } from "../api/transport.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { PostgresStore } from "../storage/postgres/store.js";
import { Lease, type LeaseOptions } from "./lease.js";

/** What `bot.health()` reports; `ready` is what a readiness probe wants (only the active replica). */
export interface BotHealth {
  /** `active`: syncing and answering; `standby`: waiting for the lease; `unhealthy`: neither (stopped, lost the lease, failed). */
  status: "active" | "standby" | "unhealthy";
  /** Whether this replica serves (status `active`). */
  ready: boolean;
  /** Why it is unhealthy, when it is. */
  reason?: string;
  /** The lease's fencing number, when one is held. */
  fence?: number;
  /** This replica's name in the lease, with replicas on. */
  holder?: string;
}

/** The lease as the bot uses it. */
export class ReplicaGate {
  readonly lease: Lease;
  #state: "idle" | "waiting" | "held" | "lost" = "idle";
  #lostReason: string | undefined;

  constructor(private readonly store: Store, log: Logger, options: LeaseOptions) {
    if (!(store instanceof PostgresStore)) throw new Error("replicas need the PostgreSQL store (storeUrl)");
    this.lease = new Lease(store.sql, log, options);
    this.lease.onLost((reason) => {
      this.#state = "lost";
      this.#lostReason = reason;
    });
  }

  /** Where the lease stands. */
  get state(): "idle" | "waiting" | "held" | "lost" {
    if (this.#state === "held" && !this.lease.held) return "lost";
    return this.#state;
  }

  /** Why the lease was lost. */
  get lostReason(): string | undefined {
    return this.#lostReason;
  }

  /** Waits for the lease, then fences the store's writes with its number. */
  async enter(log: Logger, signal?: AbortSignal): Promise<{ fence: number; previous: string | undefined }> {
    this.#state = "waiting";
    const taken = await this.lease.acquire(signal);
    (this.store as PostgresStore).setFence(taken.fence);
    this.#state = "held";
    log.info({ holder: this.lease.holder, fence: taken.fence, previous: taken.previous }, taken.previous ? "took over the lease: this replica is now active" : "acquired the lease: this replica is active");
    return taken;
  }

  /**
   * A fetch that refuses every request unless the lease is held: a fenced replica sends nothing.
   * Without `inner` it wraps the client's default transport, whose answers have the shape the
   * HTTP client reads of a `Response` (status, headers, text, bytes, body), not all of one: what
   * this returns is for the bot's own `HttpClient` only.
   */
  guard(inner: FetchLike | undefined): FetchLike {
    const base = inner ?? (nodeTransport as unknown as FetchLike);
    return (input, init) => {
      try {
        this.lease.assertHeld();
      } catch (error) {
        return Promise.reject(error);
      }
      return base(input, init);
    };
  }

  /** Releases the lease (clean stop). */
  async release(): Promise<void> {
    if (this.#state === "held") await this.lease.release();
    if (this.#state !== "lost") this.#state = "idle";
  }
}
