/**
 * Conversations: waiting for the next message that matches, e.g. the answer to a question a
 * command asked. The sync engine runs handlers concurrently, so a handler awaiting this does
 * not hold up the messages it is waiting for.
 *
 * @module
 */
import type { MessageEvent } from "../api/events.js";
import type { Room } from "../sync/room.js";
import type { CommandHost } from "./host.js";

/** Options of {@link waitForMessage}. */
export interface WaitForMessageOptions {
  /** Only messages in this room (ID or room). */
  readonly room?: string | Room;
  /** Only messages from this user. Without it, the bot's own messages are never matched. */
  readonly sender?: string;
  /** Any further condition. */
  readonly check?: (event: MessageEvent, room: Room) => boolean | Promise<boolean>;
  /**
   * Give up after this many milliseconds, rejecting with `WaitTimeoutError` (default 5 minutes:
   * a handler that waits forever would keep its sync batch from ever being marked done).
   */
  readonly timeoutMs?: number;
  /** Abort the wait early; rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Default {@link WaitForMessageOptions.timeoutMs}. */
export const DEFAULT_WAIT_TIMEOUT_MS = 5 * 60_000;

/**
 * The next `m.room.message` matching the options.
 *
 * @throws {WaitTimeoutError} when the timeout passes first.
 * @example
 * await ctx.respond("What's your favourite colour?");
 * const answer = await bot.waitForMessage({ room: ctx.room, sender: ctx.sender, timeoutMs: 30_000 });
 * await ctx.respond(`${answer.content.body}? Nice.`);
 */
export async function waitForMessage(bot: CommandHost, options: WaitForMessageOptions = {}): Promise<MessageEvent> {
  const roomId = typeof options.room === "string" ? options.room : options.room?.roomId;
  const { sender, check } = options;
  const ownId = bot.userId;
  const [, event] = await bot.waitForEvent(
    "message",
    async (room, ev) => {
      if (roomId !== undefined && room.roomId !== roomId) return false;
      if (sender === undefined ? ev.sender === ownId : ev.sender !== sender) return false;
      return check === undefined ? true : check(ev, room);
    },
    options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
    options.signal,
  );
  return event;
}
