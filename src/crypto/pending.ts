/**
 * Events that could not be decrypted yet because their room key has not
 * arrived. They are kept (bounded, and persisted in the bot's store so a
 * restart does not forget them) and retried when a key for their session
 * arrives; an event that then decrypts is dispatched like any other.
 *
 * @module
 */
import type { ClientEvent } from "../api/events.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";

/** One event waiting for its room key. */
export interface PendingEvent {
  event: ClientEvent;
  /** When it was parked (ms since epoch). */
  since: number;
}

const KEY = "crypto.pendingDecryption";

/** Bounded queue of undecryptable events, keyed by megolm session id. */
export class PendingDecryptions {
  #events: PendingEvent[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** Most events kept; the oldest are dropped beyond it. */
    readonly max = 500,
    /** Events parked longer than this are dropped (default 7 days). */
    readonly maxAgeMs = 7 * 24 * 3600_000,
  ) {}

  /** Loads what an earlier run left. */
  async load(): Promise<void> {
    const raw = await this.store.getValue(KEY);
    if (!raw) return;
    try {
      const parsed = JSON.parse(raw) as PendingEvent[];
      this.#events = Array.isArray(parsed) ? parsed.filter((p) => p && typeof p.event?.event_id === "string") : [];
    } catch {
      this.#events = [];
    }
    this.#expire();
  }

  /** Number of waiting events. */
  get size(): number {
    return this.#events.length;
  }

  /** Every waiting event (oldest first). */
  all(): readonly PendingEvent[] {
    return this.#events;
  }

  /** Waiting events of one megolm session. */
  forSession(sessionId: string): PendingEvent[] {
    return this.#events.filter((p) => sessionOf(p.event) === sessionId);
  }

  /** Parks an event (idempotent by event id) and persists the queue before resolving. */
  async add(event: ClientEvent): Promise<void> {
    if (this.#events.some((p) => p.event.event_id === event.event_id)) return;
    this.#events.push({ event, since: Date.now() });
    this.#expire();
    const over = this.#events.length - this.max;
    if (over > 0) {
      const dropped = this.#events.splice(0, over);
      this.log.warn({ dropped: dropped.length, max: this.max }, "too many undecryptable events waiting for keys; dropped the oldest");
    }
    await this.#persist();
  }

  /** Removes an event (it decrypted, or failed for good). */
  async remove(eventId: string): Promise<void> {
    const before = this.#events.length;
    this.#events = this.#events.filter((p) => p.event.event_id !== eventId);
    if (this.#events.length !== before) await this.#persist();
  }

  #expire(): void {
    const now = Date.now();
    this.#events = this.#events.filter((p) => now - p.since < this.maxAgeMs);
  }

  async #persist(): Promise<void> {
    await this.store.setValue(KEY, this.#events.length === 0 ? undefined : JSON.stringify(this.#events));
  }
}

/** The megolm session id of an encrypted event, if it has one. */
export function sessionOf(event: ClientEvent): string | undefined {
  const id = (event.content as { session_id?: unknown }).session_id;
  return typeof id === "string" ? id : undefined;
}
