/**
 * Errors and failure reports of the end-to-end encryption layer.
 *
 * @module
 */
// Types only: this file is loaded with the bot, the wasm crypto library only when encryption is on.
import type { DecryptionErrorCode } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { SecretStorageError } from "./secret-storage.js";

/** Sending into an encrypted room while the bot runs without encryption: refused rather than sent in plaintext. */
export class EncryptionRequiredError extends Error {
  override readonly name = "EncryptionRequiredError";
  constructor(readonly roomId: string) {
    super(`room ${roomId} is end-to-end encrypted but the bot runs without encryption; refusing to send plaintext (enable the "encryption" option)`);
  }
}

/**
 * The bot could not tell whether a room is encrypted (the state lookup failed
 * with something other than a definite "no encryption event"): refused rather
 * than risk sending plaintext. Retrying later is safe.
 */
export class EncryptionStateUnknownError extends Error {
  override readonly name = "EncryptionStateUnknownError";
  /** The Matrix error code of the failed lookup, when the server answered with one. */
  readonly errcode: string | undefined;
  /** HTTP status of the failed lookup, when the server answered. */
  readonly status: number | undefined;
  /** The failed request (method and path, no secrets), when known. */
  readonly request: string | undefined;
  constructor(readonly roomId: string, cause: unknown) {
    const info = cause as { errcode?: unknown; status?: unknown; method?: unknown; path?: unknown; message?: unknown } | undefined;
    const reason = typeof info?.message === "string" ? info.message : String(cause);
    super(`cannot tell whether room ${roomId} is end-to-end encrypted (${reason}); refusing to send rather than risk plaintext`, { cause });
    this.errcode = typeof info?.errcode === "string" ? info.errcode : undefined;
    this.status = typeof info?.status === "number" ? info.status : undefined;
    this.request = typeof info?.method === "string" && typeof info.path === "string" ? `${info.method} ${info.path}` : undefined;
  }
}

/**
 * The crypto store of a device that already published keys is missing or
 * unreadable, and there is no password to log in as a new device.
 */
export class CryptoStoreLostError extends Error {
  override readonly name = "CryptoStoreLostError";
  constructor(readonly deviceId: string, reason: string) {
    super(
      `the crypto store of device ${deviceId} is ${reason}; its keys cannot be recovered and the device id must not be reused with new keys. ` +
        "Start the bot with { password } so it can log in as a new device, or with the access token of a new device",
    );
  }
}

/** Why an encrypted event could not be decrypted. */
export interface DecryptionFailure {
  /** `missing_key` and `unknown_index` wait for a late key; the rest are final. */
  reason: "missing_key" | "unknown_index" | "withheld" | "untrusted" | "invalid";
  /** The crypto library's description. */
  message: string;
  /** Whether the event is kept and retried when its room key arrives. */
  willRetry: boolean;
  /** The wasm error code, when there is one. */
  code?: DecryptionErrorCode;
}

/** Another process (or another bot in this process) has the crypto store open. */
export class CryptoStoreLockedError extends Error {
  override readonly name = "CryptoStoreLockedError";
  constructor(readonly path: string) {
    super(`the crypto store ${path} is in use by another process (one bot process per store)`);
  }
}

/**
 * The identity cannot be established. `check` says which step failed:
 * `locked` (an identity exists and nothing here can sign with it), one of
 * the {@link SecretStorageError} checks, `import` (the secrets do not match the
 * identity), `auth` (creating keys needs a password or `authenticate`),
 * `verify` (the server does not show the device signed afterwards).
 */
export class IdentityError extends Error {
  override readonly name = "IdentityError";
  constructor(
    readonly check: "locked" | "import" | "auth" | "verify" | SecretStorageError["check"],
    message: string,
  ) {
    super(message);
  }
}

/** A verification was cancelled (by either side, or it timed out); `code` is the spec's cancel code, e.g. `m.user`, `m.mismatched_sas`. */
export class VerificationCancelledError extends Error {
  override readonly name = "VerificationCancelledError";
  constructor(
    readonly code: string,
    readonly reason: string,
    /** Whether this side cancelled. */
    readonly byUs: boolean,
  ) {
    super(`the verification was cancelled${byUs ? " by the bot" : " by the other side"}: ${reason} (${code})`);
  }
}
