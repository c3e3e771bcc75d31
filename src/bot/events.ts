/**
 * The bot's events, typed by name. Listen with `bot.on(name, listener)`;
 * every listener may be async, and whatever it throws reaches `error`.
 */
import type { ClientEvent, MessageContent, MessageEvent, ReactionEvent, RedactionEvent } from "../api/events.js";
import type { Room } from "../sync/room.js";
import type { DecryptionFailure } from "../crypto/errors.js";
import type { IdentityChange } from "../crypto/trust.js";
import type { CommandEvents } from "../commands/events.js";
import type { ErrorContext } from "../core/errors.js";
import type { Verification } from "../crypto/verification.js";

export type { ErrorContext } from "../core/errors.js";

/**
 * The events of a bot, by name. The map is closed: `bot.on("mesage", ...)` (a typo) does not
 * compile. Feature layers declare their events in their own folder and the map extends them
 * (`CommandEvents` of `src/commands/events.ts`); an application adds its own by declaration
 * merging, then emits them with `bot.emit`.
 *
 * @example
 * bot.on("message", async (room, event) => {
 *   if (event.content.body === "hi") await bot.sendMessage(room.roomId, "hello");
 * });
 *
 * // your own event:
 * declare module "niobot" {
 *   interface CoreBotEvents { deploy: [version: string] }
 * }
 * await bot.emit("deploy", "1.2.0");
 */
export interface CoreBotEvents extends CommandEvents {
  /**
   * The first sync finished: room state is loaded and the bot is live. With encryption on, also
   * the cross-signing identity and the key backup are set up; they run beside the first batches,
   * so a handler in an unencrypted room may run before this fires.
   */
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
  /**
   * With `replicas`: this replica took the lease and becomes the active one (before it logs in
   * and syncs). `previous` is the replica it took over from, if the lease had a holder.
   */
  leadershipAcquired: [info: { holder: string; fence: number; previous: string | undefined }];
  /** With `replicas`: this replica lost the lease (frozen past it, or another took it); it stops. */
  leadershipLost: [reason: string];
  /**
   * An encrypted event could not be decrypted. When `failure.willRetry`, the
   * event is kept and dispatched (as `event`/`message`) once its room key arrives.
   */
  decryptionFailure: [room: Room, event: ClientEvent, failure: DecryptionFailure];
  /**
   * A user's cross-signing identity changed (they reset it, or someone who
   * controls their account did). The bot pins the new identity and keeps working.
   */
  identityChanged: [change: IdentityChange];
  /**
   * A SAS verification (someone verifying the bot from their client, or one
   * the bot started) reached the point where both sides compare: the emoji
   * and decimals are set. Call `confirm()` only after they were compared,
   * else `cancel()`. Without a listener, requests are declined (unless `autoVerify`).
   */
  verificationRequest: [verification: Verification];
  /**
   * An edit (`m.replace`) of a message, after `message` fired for the edit
   * event itself. `newContent` is its `m.new_content`. Edits that the cached
   * original proves invalid (another sender, an edit of an edit) are dropped;
   * originals not in the message cache are not fetched to check.
   */
  edit: [room: Room, event: MessageEvent, newContent: MessageContent, originalEventId: string];
  /** A reaction (`m.reaction` annotation) to an event, including the bot's own. */
  reaction: [room: Room, event: ReactionEvent, key: string, targetEventId: string];
  /** A redaction of an event (a message, a reaction...), with its reason if one was given. */
  redaction: [room: Room, event: RedactionEvent, redactedEventId: string, reason: string | undefined];
}
