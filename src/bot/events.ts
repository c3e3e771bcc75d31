/**
 * The bot's events, typed by name. Listen with `bot.on(name, listener)`;
 * every listener may be async, and whatever it throws reaches `error`.
 */
import type { ClientEvent, MessageEvent } from "../api/events.js";
import type { Room } from "../sync/room.js";

/** Where an error reported through the `error` event came from. */
export interface ErrorContext {
  /** The event or subsystem whose handler failed, e.g. `"message"` or `"autoJoin"`. */
  source: string;
  room?: Room;
  event?: ClientEvent;
}

/**
 * Core events of a bot. Feature layers (commands, DMs, ...) extend this map.
 *
 * @example
 * bot.on("message", async (room, event) => {
 *   if (event.content.body === "hi") await bot.sendMessage(room.roomId, "hello");
 * });
 */
export interface CoreBotEvents {
  [name: string]: unknown[];
  /** The first sync finished: room state is loaded and the bot is live. */
  ready: [];
  /** Any `m.room.message` in a joined room (including the bot's own). */
  message: [room: Room, event: MessageEvent];
  /** Every timeline event of a joined room, whatever its type. */
  event: [room: Room, event: ClientEvent];
  /** The bot was invited to a room. */
  invite: [room: Room, inviter: string | undefined];
  /** The bot joined a room. */
  join: [room: Room];
  /** The bot left, was kicked or banned from a room. */
  leave: [room: Room, event: ClientEvent | undefined];
  /** A sync request failed; the bot keeps retrying with backoff. */
  syncError: [error: unknown, attempt: number];
  /** A handler threw, or background work failed. Without listeners, errors are logged with their stack. */
  error: [error: unknown, context: ErrorContext];
  /** The bot stopped. */
  stopped: [];
}
