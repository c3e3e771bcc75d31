/**
 * Events that could not be decrypted yet because their room key has not
 * arrived. They are kept (bounded, and persisted in the bot's store so a
 * restart does not forget them) and retried when a key for their session
 * arrives; an event that then decrypts is dispatched like any other.
 *
 * Anyone in a room can send `m.room.encrypted` events with made-up session
 * ids, so parking must stay cheap and bounded whatever arrives: each event is
 * one store record (adding one writes only it), events over a size cap are
 * not kept, and quotas per sender and per room keep one sender or room from
 * crowding out the rest. What exceeds them is dropped with a log line (the
 * failure itself is still reported to the bot).
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

/** Bounds of the queue beyond the total count and age. */
export interface PendingLimits {
  /** Largest event kept, as JSON bytes (default 16 KiB; real megolm messages are far smaller). */
  maxEventBytes: number;
  /** Most events kept per sender (default 50). */
  maxPerSender: number;
  /** Most events kept per room (default 100). */
  maxPerRoom: number;
}

/** Where an earlier version kept the whole queue as one value; read once and moved to records. */
const LEGACY_KEY = "crypto.pendingDecryption";

/** Bounded queue of undecryptable events, keyed by megolm session id. */
export class PendingDecryptions {
  /** By event id, in insertion order (oldest first). */
  readonly #events = new Map<string, PendingEvent>();
  readonly #bySession = new Map<string, Set<string>>();
  readonly #perSender = new Map<string, number>();
  readonly #perRoom = new Map<string, number>();
  readonly limits: PendingLimits;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** Most events kept; the oldest are dropped beyond it. */
    readonly max = 500,
    /** Events parked longer than this are dropped (default 7 days). */
    readonly maxAgeMs = 7 * 24 * 3600_000,
    limits: Partial<PendingLimits> = {},
  ) {
    this.limits = {
      maxEventBytes: limits.maxEventBytes ?? 16 * 1024,
      maxPerSender: limits.maxPerSender ?? 50,
      maxPerRoom: limits.maxPerRoom ?? 100,
    };
  }

  /** Loads what an earlier run left. */
  async load(): Promise<void> {
    const legacy = await this.store.getValue(LEGACY_KEY);
    if (legacy !== undefined) await this.#migrate(legacy);
    const stale: string[] = [];
    for (const row of await this.store.loadPendingEvents()) {
      let event: ClientEvent | undefined;
      try {
        event = JSON.parse(row.json) as ClientEvent;
      } catch {
        event = undefined;
      }
      if (!event || event.event_id !== row.eventId || sessionOf(event) === undefined) stale.push(row.eventId);
      else this.#index({ event, since: row.since });
    }
    stale.push(...this.#expired());
    // A smaller limit than the run that parked them: keep the newest.
    const over = this.#events.size - this.max;
    if (over > 0) for (const id of [...this.#events.keys()].slice(0, over)) if (this.#unindex(id)) stale.push(id);
    await this.#forget(stale);
  }

  /** Number of waiting events. */
  get size(): number {
    return this.#events.size;
  }

  /** Every waiting event (oldest first). */
  all(): readonly PendingEvent[] {
    return [...this.#events.values()];
  }

  /** Waiting events of one megolm session. */
  forSession(sessionId: string): PendingEvent[] {
    const ids = this.#bySession.get(sessionId);
    if (!ids) return [];
    return [...ids].map((id) => this.#events.get(id)).filter((p): p is PendingEvent => p !== undefined);
  }

  /**
   * Parks an event (idempotent by event id) and persists it before resolving;
   * one over the size cap or a quota is dropped with a log line instead.
   */
  async add(event: ClientEvent): Promise<void> {
    if (this.#events.has(event.event_id)) return;
    // Expired events leave first, so they count against no quota.
    const evicted = this.#expired();
    const kept = this.#admit(event);
    if (kept) {
      const over = this.#events.size + 1 - this.max;
      if (over > 0) {
        const oldest = [...this.#events.keys()].slice(0, over);
        for (const id of oldest) this.#unindex(id);
        evicted.push(...oldest);
        this.log.warn({ dropped: oldest.length, max: this.max }, "too many undecryptable events waiting for keys; dropped the oldest");
      }
      const parked = { event, since: Date.now() };
      this.#index(parked);
      await this.store.putPendingEvent({ eventId: event.event_id, roomId: event.room_id, sender: event.sender, sessionId: kept.session, since: parked.since, json: kept.json });
    }
    await this.#forget(evicted);
  }

  /** The event's session and JSON when it may be parked; otherwise logs why not and returns undefined. */
  #admit(event: ClientEvent): { session: string; json: string } | undefined {
    const drop = (why: string, extra: Record<string, unknown> = {}): undefined => {
      this.log.warn({ eventId: event.event_id, roomId: event.room_id, sender: event.sender, ...extra }, `not keeping an undecryptable event for a later key: ${why}`);
      return undefined;
    };
    const session = sessionOf(event);
    if (session === undefined) return drop("it names no megolm session");
    const json = JSON.stringify(event);
    if (Buffer.byteLength(json) > this.limits.maxEventBytes) return drop("it is too large", { maxEventBytes: this.limits.maxEventBytes });
    if ((this.#perSender.get(event.sender) ?? 0) >= this.limits.maxPerSender) return drop("too many from this sender", { maxPerSender: this.limits.maxPerSender });
    if ((this.#perRoom.get(event.room_id) ?? 0) >= this.limits.maxPerRoom) return drop("too many in this room", { maxPerRoom: this.limits.maxPerRoom });
    return { session, json };
  }

  /** Removes an event (it decrypted, or failed for good). */
  async remove(eventId: string): Promise<void> {
    if (this.#unindex(eventId)) await this.store.deletePendingEvents([eventId]);
  }

  #index(parked: PendingEvent): void {
    const { event } = parked;
    const session = sessionOf(event) ?? "";
    this.#events.set(event.event_id, parked);
    let ids = this.#bySession.get(session);
    if (!ids) this.#bySession.set(session, (ids = new Set()));
    ids.add(event.event_id);
    bump(this.#perSender, event.sender, 1);
    bump(this.#perRoom, event.room_id, 1);
  }

  #unindex(eventId: string): boolean {
    const parked = this.#events.get(eventId);
    if (!parked) return false;
    const { event } = parked;
    this.#events.delete(eventId);
    const session = sessionOf(event) ?? "";
    const ids = this.#bySession.get(session);
    ids?.delete(eventId);
    if (ids?.size === 0) this.#bySession.delete(session);
    bump(this.#perSender, event.sender, -1);
    bump(this.#perRoom, event.room_id, -1);
    return true;
  }

  /** Unindexes events past their age; returns their ids for the store. */
  #expired(): string[] {
    const now = Date.now();
    const old: string[] = [];
    // Oldest first: stop at the first one young enough.
    for (const [id, parked] of this.#events) {
      if (now - parked.since < this.maxAgeMs) break;
      old.push(id);
    }
    for (const id of old) this.#unindex(id);
    return old;
  }

  async #forget(eventIds: string[]): Promise<void> {
    if (eventIds.length > 0) await this.store.deletePendingEvents(eventIds);
  }

  /** Moves the queue an earlier version kept as one value into records, within today's bounds. */
  async #migrate(raw: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = [];
    }
    for (const item of Array.isArray(parsed) ? (parsed as Partial<PendingEvent>[]) : []) {
      const event = item?.event;
      if (!event || typeof event.event_id !== "string" || typeof item.since !== "number") continue;
      const session = sessionOf(event);
      const json = JSON.stringify(event);
      if (session === undefined || Buffer.byteLength(json) > this.limits.maxEventBytes) continue;
      await this.store.putPendingEvent({ eventId: event.event_id, roomId: event.room_id, sender: event.sender, sessionId: session, since: item.since, json });
    }
    await this.store.setValue(LEGACY_KEY, undefined);
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}

/** The megolm session id of an encrypted event, if it has one. */
export function sessionOf(event: ClientEvent): string | undefined {
  const id = (event.content as { session_id?: unknown }).session_id;
  return typeof id === "string" ? id : undefined;
}
