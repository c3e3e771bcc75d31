/**
 * Decryption errors of the wasm crypto library, mapped to niobot's
 * {@link DecryptionFailure}. Apart from `errors.ts` because it needs the
 * library's values, which only an encrypting bot loads.
 *
 * @module
 */
import { DecryptionErrorCode, MegolmDecryptionError } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { DecryptionFailure } from "./errors.js";

/** Maps a decryption error of the crypto library to a {@link DecryptionFailure}. */
export function classifyDecryptionError(error: unknown): DecryptionFailure {
  if (error instanceof MegolmDecryptionError) {
    const message = error.description;
    if (error.withheldCode) return { reason: "withheld", message: `${message} (${error.withheldCode})`, willRetry: false, code: error.code };
    switch (error.code) {
      case DecryptionErrorCode.MissingRoomKey:
        return { reason: "missing_key", message, willRetry: true, code: error.code };
      case DecryptionErrorCode.UnknownMessageIndex:
        return { reason: "unknown_index", message, willRetry: true, code: error.code };
      case DecryptionErrorCode.UnknownSenderDevice:
      case DecryptionErrorCode.UnsignedSenderDevice:
      case DecryptionErrorCode.SenderIdentityVerificationViolation:
        return { reason: "untrusted", message, willRetry: false, code: error.code };
      default:
        return { reason: "invalid", message, willRetry: false, code: error.code };
    }
  }
  return { reason: "invalid", message: error instanceof Error ? error.message : String(error), willRetry: false };
}
