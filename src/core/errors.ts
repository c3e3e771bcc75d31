/**
 * Where a reported error came from. The feature layers (crypto, DMs,
 * messaging) report errors through their host with this context, and the
 * bot's `error` event carries it; it lives here so they need not import the bot.
 *
 * @module
 */
import type { ClientEvent } from "../api/events.js";
import type { Room } from "../sync/room.js";

/** Where an error reported through the `error` event came from. */
export interface ErrorContext {
  /** The event or subsystem whose handler failed, e.g. `"message"` or `"autoJoin"`. */
  source: string;
  room?: Room;
  event?: ClientEvent;
}
