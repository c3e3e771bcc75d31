/**
 * The bot's own trust policy. `"all"` (the default) shares room keys with
 * and accepts messages from every device, so older clients and bots that
 * cannot cross-sign still talk to the bot. `"crossSigned"` is MSC4153's
 * "exclude insecure devices": room keys go only to devices their owner
 * cross-signed, and a message from any other device is an `"untrusted"`
 * decryption failure that never runs as a command. Privileged checks require
 * a cross-signed device in either mode (`commands/checks.ts`).
 *
 * Identity changes: the crypto library pins the first master key it sees for
 * each user. When a user's identity changes (they reset cross-signing, or
 * someone with control of their account did), the bot emits
 * `identityChanged`, pins the new identity and keeps working.
 *
 * @module
 */
import { CollectStrategy, DecryptionSettings, OtherUserIdentity, OwnUserIdentity, TrustRequirement, UserId, type OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";

/** Which devices the bot shares room keys with and accepts messages from. */
export type TrustMode = "all" | "crossSigned";

/** The key sharing strategy of a trust mode. */
export function sharingStrategy(mode: TrustMode): CollectStrategy {
  return mode === "crossSigned" ? CollectStrategy.identityBasedStrategy() : CollectStrategy.allDevices();
}

/** The decryption settings of a trust mode. */
export function decryptionSettings(mode: TrustMode): DecryptionSettings {
  return new DecryptionSettings(mode === "crossSigned" ? TrustRequirement.CrossSigned : TrustRequirement.Untrusted);
}

/** A user's cross-signing identity changed. */
export interface IdentityChange {
  userId: string;
  /** Whether it is the bot's own account. */
  own: boolean;
  /** The new master public key. */
  masterKey: string;
}

/**
 * Watches identity updates of the machine and reports changes: another
 * user's identity that no longer matches its pinned master key (then pinned
 * anew), or the bot's own master key differing from the one it started with.
 */
export function watchIdentities(machine: OlmMachine, ownMasterKey: () => string | undefined, report: (change: IdentityChange) => void): void {
  machine.registerUserIdentityUpdatedCallback(async (id: UserId) => {
    const userId = id.toString();
    const identity = await machine.getIdentity(new UserId(userId));
    if (!identity) return;
    try {
      const masterKey = masterKeyOf(identity.masterKey);
      if (identity instanceof OtherUserIdentity) {
        if (!identity.identityNeedsUserApproval()) return;
        await identity.pinCurrentMasterKey();
        report({ userId, own: false, masterKey });
      } else if (identity instanceof OwnUserIdentity) {
        const known = ownMasterKey();
        if (known !== undefined && masterKey !== known) report({ userId, own: true, masterKey });
      }
    } finally {
      identity.free();
    }
  });
}

/** The public key of a master key JSON (`{ keys: { "ed25519:X": "X" } }`). */
function masterKeyOf(json: string): string {
  try {
    const keys = (JSON.parse(json) as { keys?: Record<string, string> }).keys ?? {};
    return Object.values(keys)[0] ?? "";
  } catch {
    return "";
  }
}
