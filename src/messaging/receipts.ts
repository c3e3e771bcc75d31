/**
 * Automatic read receipts under the cost rule: a handled event gets an
 * `m.read` receipt only if the bot sent nothing into its room after it
 * arrived, since the bot's own event already marks it read (servers count a
 * user's own event as read up to there). At most one receipt per room goes out
 * for a burst of events, for the latest one.
 *
 * "Handled" is what the bot says it is: `noteHandled` (the command framework
 * calls it through the `commandComplete` event), or, with the `"messages"`
 * mode, every `m.room.message` from someone else once its listeners finished.
 */
import { LruMap } from "./lru.js";

/**
 * `true` (default): receipts for events noted as handled (commands, or
 * `noteHandled` by hand). `"messages"`: also every message from someone else
 * once its listeners finished. `false`: only explicit `markRead`.
 */
export type AutoReadReceipts = boolean | "messages";

/** Options of {@link ReadReceipts}. */
export interface ReadReceiptsOptions {
  mode?: AutoReadReceipts;
  /** Sends one receipt (`m.read`, or `m.read.private`). */
  send(roomId: string, eventId: string, options: MarkReadOptions): Promise<void>;
  onError(error: unknown, roomId: string): void;
  /**
   * Pause after a room's last running handler finished before sending, so
   * events of one sync batch whose handlers start a moment apart share one
   * receipt (default 50 ms).
   */
  settleMs?: number;
  /** Send at the latest this long after an event was noted, even while other handlers of the room still run (default 3 s). */
  maxDelayMs?: number;
}

/** Options of an explicit receipt. */
export interface MarkReadOptions {
  /** Send `m.read.private`: clears notifications without telling other users. */
  private?: boolean;
  /** A threaded receipt: a thread root's event id, or `"main"`. Unthreaded by default. */
  threadId?: string;
}

interface Arrival {
  roomId: string;
  seq: number;
  own: boolean;
}

interface RoomReceipts {
  /** Handlers of this room's events still running. */
  inFlight: number;
  pending: { eventId: string; seq: number } | undefined;
  /** Arrival order before which every event is covered by one the bot sent. */
  sentSeq: number;
  /** Arrival order of the latest event a receipt was sent for. */
  readSeq: number;
  timer: NodeJS.Timeout | undefined;
  deadline: NodeJS.Timeout | undefined;
}

/**
 * @example
 * // in a plain `message` listener that handled something without answering:
 * bot.noteHandled(room.roomId, event.event_id);
 */
export class ReadReceipts {
  readonly #o: ReadReceiptsOptions;
  /** Arrival order of events: a counter, since clocks of senders can't be compared. */
  #seq = 0;
  readonly #arrivals = new LruMap<string, Arrival>(10_000);
  readonly #rooms = new Map<string, RoomReceipts>();
  readonly #flushing = new Set<Promise<void>>();

  constructor(options: ReadReceiptsOptions) {
    this.#o = options;
  }

  /** The automatic mode. */
  get mode(): AutoReadReceipts {
    return this.#o.mode ?? true;
  }

  /**
   * @internal The bot calls this when an event arrives, before its handlers
   * run; the returned function when they finished.
   */
  arrived(roomId: string, eventId: string, own: boolean): () => void {
    this.#arrivals.set(eventId, { roomId, seq: ++this.#seq, own });
    const room = this.#room(roomId);
    room.inFlight++;
    return () => {
      room.inFlight--;
      if (room.inFlight === 0 && room.pending !== undefined) this.#schedule(roomId, room, this.#o.settleMs ?? 50);
    };
  }

  /**
   * @internal Called when the bot starts sending an event into a room; call the
   * result once the server accepted it. Everything that arrived before the
   * send started is ordered before the bot's event, so it counts as read.
   */
  beforeSend(roomId: string): () => void {
    const seq = ++this.#seq;
    return () => {
      const room = this.#room(roomId);
      room.sentSeq = Math.max(room.sentSeq, seq);
    };
  }

  /** Records that the bot sent an event into a room just now (events that arrived before are read). */
  noteSent(roomId: string): void {
    this.beforeSend(roomId)();
  }

  /**
   * Marks an event as handled: unless the bot sends something into the room
   * first, an `m.read` receipt for it (or a later handled event) goes out once
   * the room's running handlers finished. Own events and events already
   * covered are ignored; with `autoReadReceipts: false` this does nothing.
   */
  noteHandled(roomId: string, eventId: string): void {
    if (this.mode === false) return;
    const arrival = this.#arrivals.peek(eventId);
    if (arrival?.own === true) return;
    // An event we never saw arrive: assume it is as recent as this call.
    const seq = arrival?.roomId === roomId ? arrival.seq : ++this.#seq;
    const room = this.#room(roomId);
    if (seq < room.sentSeq || seq <= room.readSeq) return;
    if (room.pending === undefined || seq > room.pending.seq) room.pending = { eventId, seq };
    room.deadline ??= this.#timer(() => void this.flush(roomId), this.#o.maxDelayMs ?? 3_000);
    if (room.inFlight === 0) this.#schedule(roomId, room, this.#o.settleMs ?? 50);
  }

  /**
   * Sends a receipt now, whatever the automatic mode. A pending automatic
   * receipt for an earlier event becomes redundant and is dropped.
   */
  async markRead(roomId: string, eventId: string, options: MarkReadOptions = {}): Promise<void> {
    await this.#o.send(roomId, eventId, options);
    const arrival = this.#arrivals.peek(eventId);
    if (options.threadId !== undefined || arrival?.roomId !== roomId) return;
    const room = this.#room(roomId);
    // A private receipt doesn't move what others see, but it does clear our notifications, which is all a bot needs.
    room.readSeq = Math.max(room.readSeq, arrival.seq);
    if (room.pending !== undefined && room.pending.seq <= room.readSeq) this.#clear(room);
  }

  /** Sends the pending receipt of one room (or of all) now, if it is still needed. */
  async flush(roomId?: string): Promise<void> {
    if (roomId === undefined) {
      await Promise.all([...this.#rooms.keys()].map((id) => this.flush(id)));
      await Promise.all([...this.#flushing]);
      return;
    }
    const room = this.#rooms.get(roomId);
    const pending = room?.pending;
    if (room === undefined || pending === undefined) return;
    this.#clear(room);
    if (pending.seq < room.sentSeq || pending.seq <= room.readSeq) return;
    room.readSeq = pending.seq;
    const sending = this.#o.send(roomId, pending.eventId, {}).catch((error: unknown) => this.#o.onError(error, roomId));
    this.#flushing.add(sending);
    await sending.finally(() => this.#flushing.delete(sending));
  }

  /** Sends what is pending and stops every timer (the bot is stopping). */
  async close(): Promise<void> {
    await this.flush();
  }

  #room(roomId: string): RoomReceipts {
    let room = this.#rooms.get(roomId);
    if (room === undefined) {
      room = { inFlight: 0, pending: undefined, sentSeq: 0, readSeq: 0, timer: undefined, deadline: undefined };
      this.#rooms.set(roomId, room);
    }
    return room;
  }

  #schedule(roomId: string, room: RoomReceipts, ms: number): void {
    if (room.timer !== undefined) clearTimeout(room.timer);
    room.timer = this.#timer(() => void this.flush(roomId), ms);
  }

  #timer(run: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(run, ms);
    timer.unref();
    return timer;
  }

  #clear(room: RoomReceipts): void {
    clearTimeout(room.timer);
    clearTimeout(room.deadline);
    room.timer = room.deadline = undefined;
    room.pending = undefined;
  }
}
