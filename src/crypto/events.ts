/**
 * How decrypted events look to handlers, and what the crypto layer needs
 * from the bot. A decrypted event keeps the encrypted event's `event_id`,
 * `sender`, `room_id` and `origin_server_ts`; its `type` and `content` are the
 * plaintext ones, and `unsigned["io.niobot.decrypted"]` says it was encrypted.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { ClientEvent } from "../api/events.js";
import type { ErrorContext } from "../core/errors.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import type { Room } from "../sync/room.js";
import type { RoomTracker } from "../sync/tracker.js";
import type { DecryptionFailure } from "./errors.js";
import type { IdentityChange } from "./trust.js";
import type { Verification } from "./verification.js";

/** The `unsigned` key that marks a decrypted event. */
export const DECRYPTED_KEY = "io.niobot.decrypted";

/** How an event was encrypted; present on every event the bot decrypted. */
export interface DecryptionInfo {
  /** The sending device, when known. */
  senderDevice: string | undefined;
  /** The sending device's Curve25519 identity key. */
  senderKey: string;
  /** The megolm session the event was encrypted with. */
  sessionId: string | undefined;
  /** Whether the room key was forwarded by another device rather than sent by the sender. */
  forwarded: boolean;
  /**
   * Whether the sending device is cross-signed by its owner's identity, that
   * identity shows no verification violation, and the room key came from
   * the device itself (not from a backup or a forward, which anyone holding
   * the backup's public key could forge). Privileged checks require it.
   */
  senderCrossSigned: boolean;
}

/**
 * The encryption details of a decrypted event, or undefined for an event
 * that was sent in plaintext.
 *
 * @example
 * bot.on("message", (room, event) => {
 *   if (decryptionInfo(event)) console.log("this arrived encrypted");
 * });
 */
export function decryptionInfo(event: Pick<ClientEvent, "unsigned">): DecryptionInfo | undefined {
  const info = event.unsigned?.[DECRYPTED_KEY];
  return info && typeof info === "object" ? (info as DecryptionInfo) : undefined;
}

/** Whether the bot decrypted this event (it arrived end-to-end encrypted). */
export function isDecrypted(event: Pick<ClientEvent, "unsigned">): boolean {
  return decryptionInfo(event) !== undefined;
}

/** What the crypto layer needs from the bot that owns it. */
export interface CryptoHost {
  readonly api: MatrixApi;
  readonly store: Store;
  readonly rooms: RoomTracker;
  readonly log: Logger;
  /** Dispatches an event decrypted after its key arrived late, exactly like a fresh one. */
  dispatch(room: Room, event: ClientEvent): Promise<void>;
  /** Reports an event that could not be decrypted (the `decryptionFailure` bot event). */
  decryptionFailed(room: Room, event: ClientEvent, failure: DecryptionFailure): Promise<void>;
  /** The bot's error funnel. */
  reportError(error: unknown, context: ErrorContext): void;
  /** A user's cross-signing identity changed (the `identityChanged` bot event). */
  identityChanged?(change: IdentityChange): void;
  /** Sends a room event through the bot's send path (in-room verification messages; encrypted in encrypted rooms). */
  sendRoomEvent?(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string>;
  /** The DM room to verify a user in. */
  directRoom?(userId: string): Promise<string>;
  /** A verification's short authentication string is ready (the `verificationRequest` bot event). */
  verificationRequest?(verification: Verification): Promise<void>;
  /** Whether the application listens to `verificationRequest` (else requests are declined, unless `autoVerify`). */
  listensForVerification?(): boolean;
}
