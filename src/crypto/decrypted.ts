/**
 * The event handlers see from an encrypted event and its decryption (see
 * `events.ts` for its shape). Apart from `events.ts`, which every bot loads,
 * because it needs the wasm crypto library's values.
 *
 * @module
 */
import { ShieldColor, type DecryptedRoomEvent } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { ClientEvent } from "../api/events.js";
import { DECRYPTED_KEY, type DecryptionInfo } from "./events.js";

/** Builds the event handlers see from an encrypted event and its decryption. */
export function decryptedEvent(encrypted: ClientEvent, decrypted: DecryptedRoomEvent, sessionId: string | undefined): ClientEvent {
  const plain = JSON.parse(decrypted.event) as { type?: unknown; content?: unknown };
  const content = plain.content && typeof plain.content === "object" ? { ...(plain.content as Record<string, unknown>) } : {};
  // Relations travel in the clear (so servers can aggregate them); put them back.
  const relation = encrypted.content["m.relates_to"];
  if (relation !== undefined && content["m.relates_to"] === undefined) content["m.relates_to"] = relation;
  const info: DecryptionInfo = {
    senderDevice: decrypted.senderDevice?.toString(),
    senderKey: decrypted.senderCurve25519Key,
    sessionId,
    forwarded: decrypted.forwardingCurve25519KeyChain.length > 0,
    // Lenient mode: no shield for a cross-signed device of an unverified user, red or grey for anything weaker.
    senderCrossSigned: shieldColor(decrypted) === ShieldColor.None,
  };
  return {
    ...encrypted,
    type: typeof plain.type === "string" ? plain.type : "m.room.message",
    content,
    unsigned: { ...encrypted.unsigned, [DECRYPTED_KEY]: info },
  };
}

function shieldColor(decrypted: DecryptedRoomEvent): ShieldColor {
  const shield = decrypted.shieldState(false);
  try {
    return shield.color;
  } finally {
    shield.free();
  }
}
