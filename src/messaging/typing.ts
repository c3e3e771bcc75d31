/**
 * Typing notifications around a piece of work. Each room keeps a reference
 * count: however many works overlap in one room, the server hears "typing"
 * once at the start, a refresh every `refreshMs` while any is running, and
 * exactly one "stopped typing" when the last one ends.
 */

/** Timing of typing notifications. */
export interface TypingOptions {
  /** How long the server shows the bot as typing without a refresh (default 30 s). */
  timeoutMs?: number;
  /**
   * How often the notification is renewed while work runs (default 20 s for
   * the default timeout: the typing module recommends renewing a few seconds
   * before the timeout runs out; never more often than every `timeoutMs / 2`).
   */
  refreshMs?: number;
}

/** Sends one typing notification. */
export type SendTyping = (roomId: string, typing: boolean, timeoutMs: number) => Promise<void>;

interface RoomTyping {
  count: number;
  timer: NodeJS.Timeout | undefined;
  /** Notifications of a room go out one after another, so "stopped" never overtakes "typing". */
  chain: Promise<void>;
}

/**
 * @example
 * const typing = new TypingIndicator((room, on, ms) => api.rooms.typing(room, userId, on, ms).then(() => undefined));
 * const answer = await typing.run(roomId, () => computeSlowAnswer());
 */
export class TypingIndicator {
  readonly #rooms = new Map<string, RoomTyping>();

  constructor(
    private readonly send: SendTyping,
    private readonly onError: (error: unknown, roomId: string) => void,
    private readonly defaults: TypingOptions = {},
  ) {}

  /**
   * Shows the bot as typing in `roomId` while `work` runs, and returns what
   * `work` returns (or throws what it throws). Notification failures are
   * reported, never thrown: they must not fail the work. Resolves after the
   * final "stopped typing" was sent. The timing of the first overlapping
   * work in a room applies until the room's count drops to zero.
   */
  async run<T>(roomId: string, work: () => T | Promise<T>, options: TypingOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs ?? 30_000;
    const refreshMs = options.refreshMs ?? this.defaults.refreshMs ?? Math.max(timeoutMs / 2, Math.min(20_000, timeoutMs - 5_000));
    if (!(refreshMs > 0 && refreshMs < timeoutMs)) throw new RangeError(`typing refreshMs (${refreshMs}) must be between 0 and timeoutMs (${timeoutMs})`);
    let state = this.#rooms.get(roomId);
    if (state === undefined) {
      state = { count: 0, timer: undefined, chain: Promise.resolve() };
      this.#rooms.set(roomId, state);
    }
    const room = state;
    if (room.count++ === 0) {
      this.#enqueue(roomId, room, true, timeoutMs);
      room.timer = setInterval(() => this.#enqueue(roomId, room, true, timeoutMs), refreshMs);
      room.timer.unref();
    }
    try {
      return await work();
    } finally {
      if (--room.count === 0) {
        clearInterval(room.timer);
        room.timer = undefined;
        this.#enqueue(roomId, room, false, timeoutMs);
        const last = room.chain;
        await last;
        // A new work may have started meanwhile and reused this state.
        if (room.count === 0 && room.chain === last && this.#rooms.get(roomId) === room) this.#rooms.delete(roomId);
      }
    }
  }

  /** Whether the bot is currently shown as typing in a room (some work is running). */
  isTyping(roomId: string): boolean {
    return (this.#rooms.get(roomId)?.count ?? 0) > 0;
  }

  #enqueue(roomId: string, room: RoomTyping, typing: boolean, timeoutMs: number): void {
    room.chain = room.chain.then(() => this.send(roomId, typing, timeoutMs)).catch((error: unknown) => this.onError(error, roomId));
  }
}
