/**
 * Which room events belong to an in-room verification. Apart from the verification code, which
 * loads the wasm library, so that the bot can check every event without loading it.
 *
 * @module
 */
import type { ClientEvent } from "../api/events.js";

/** Whether a room event takes part in an in-room verification. */
export function isVerificationEvent(event: Pick<ClientEvent, "type" | "content">): boolean {
  if (event.type === "m.room.message") return event.content.msgtype === "m.key.verification.request";
  return event.type.startsWith("m.key.verification.");
}
