/**
 * End-to-end encryption (issue 7): transparent decryption before dispatch,
 * encryption before sending into encrypted rooms, and a crypto store that
 * survives restarts. Built on `@matrix-org/matrix-sdk-crypto-wasm`, which
 * needs no native binary; its IndexedDB store is provided by
 * `fake-indexeddb` and persisted as an atomic snapshot file.
 *
 * Cross-signing (issue 13): every start ends with the bot's device signed
 * by the account's cross-signing identity (`identity.ts`): from the keys in
 * the store, from secret storage opened with the recovery key
 * (`secret-storage.ts`, `recovery-key.ts`), or a new identity on a fresh
 * account; an identity nothing here can sign with is refused, never reset
 * unless `resetIdentity` asks for it.
 *
 * Loading: this index is part of every bot, so it loads nothing heavy. The
 * wasm library, `fake-indexeddb` and the store's SQLite come with
 * `crypto.ts` and `store.ts`, which the bot imports (dynamically) only when
 * encryption is on; they are exported here as types. The wasm library alone
 * is asked for first (`wasm.ts`), so its compile starts before the rest.
 * The first sync batches do not wait for the machine to open (`start-queue.ts`).
 *
 * @module
 */
import { registerSecret } from "../logging/redact.js";
import { isPostgresUrl } from "../storage/postgres/url.js";

import type { Authenticate, IdentityOptions } from "./identity.js";
import type { TrustMode } from "./trust.js";
export type { IdentityChange, TrustMode } from "./trust.js";
export type { BotCrypto, CryptoOpenOptions } from "./crypto.js";
export type { CryptoStoreFile, CryptoStoreMeta } from "./store.js";
export { CryptoStoreLockedError, CryptoStoreLostError, EncryptionRequiredError, EncryptionStateUnknownError, IdentityError, type DecryptionFailure } from "./errors.js";
export { DECRYPTED_KEY, decryptionInfo, isDecrypted, type CryptoHost, type DecryptionInfo } from "./events.js";

export type { Authenticate, AuthChallenge, IdentityOptions, IdentityOutcome, IdentityReport } from "./identity.js";
export { SecretStorage, SecretStorageError } from "./secret-storage.js";
export { decodeRecoveryKey, encodeRecoveryKey, RecoveryKeyFormatError } from "./recovery-key.js";
export type { Verification, SasEmoji, ShortAuthString, VerificationState } from "./verification.js";
export { VerificationCancelledError } from "./errors.js";
export { isVerificationEvent } from "./verification-events.js";
export { loadCryptoWasm } from "./wasm.js";

/** The bot options that decide the crypto setup. */
export interface CryptoBotOptions {
  encryption?: boolean;
  storePath?: string;
  /** A store URL; a PostgreSQL one keeps the crypto store in the database. */
  storeUrl?: string;
  /** A custom store; one with `cryptoSnapshots` keeps the crypto store itself. */
  store?: { cryptoSnapshots?: unknown };
  cryptoStorePath?: string;
  cryptoStorePassphrase?: string;
  deviceName?: string;
  crossSigning?: boolean;
  recoveryKey?: string;
  recoveryKeyFile?: string;
  resetIdentity?: boolean;
  authenticate?: Authenticate;
  showRecoveryKey?: (recoveryKey: string) => void;
  trust?: TrustMode;
  autoVerify?: { users: readonly string[] };
}

/** The resolved crypto setup of a bot. */
export interface ResolvedCryptoOptions {
  enabled: boolean;
  storePath: string | undefined;
  passphrase: string | undefined;
  deviceName: string;
  /** How the cross-signing identity is established; undefined when `crossSigning` is false. */
  identity: IdentityOptions | undefined;
  trust: TrustMode;
  /** Confirms SAS verifications of these users without asking. */
  autoVerify: { users: readonly string[] } | undefined;
}

/**
 * Resolves the crypto options: the store path defaults to `<storePath>.crypto`,
 * and encryption defaults to on exactly when that store persists.
 *
 * @example
 * cryptoOptionsOf({ storePath: "bot.db" }) // { enabled: true, storePath: "bot.db.crypto", ... }
 */
export function cryptoOptionsOf(o: CryptoBotOptions): ResolvedCryptoOptions {
  registerSecret(o.cryptoStorePassphrase);
  // A store that keeps the crypto store itself (PostgreSQL) takes precedence over a file beside `storePath`.
  const inStore = o.store ? typeof o.store.cryptoSnapshots === "function" : isPostgresUrl(o.storeUrl);
  const storePath = o.cryptoStorePath ?? (!inStore && o.storePath && o.storePath !== ":memory:" ? `${o.storePath}.crypto` : undefined);
  return {
    enabled: o.encryption ?? (storePath !== undefined || inStore),
    storePath,
    passphrase: o.cryptoStorePassphrase,
    deviceName: o.deviceName ?? "niobot",
    trust: o.trust ?? "all",
    autoVerify: o.autoVerify,
    identity:
      o.crossSigning === false
        ? undefined
        : { recoveryKey: o.recoveryKey || undefined, recoveryKeyFile: o.recoveryKeyFile, resetIdentity: o.resetIdentity, authenticate: o.authenticate, showRecoveryKey: o.showRecoveryKey },
  };
}

