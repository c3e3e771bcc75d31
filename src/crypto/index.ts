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
 * @module
 */
import { registerSecret } from "../logging/redact.js";
import { isPostgresUrl } from "../storage/postgres/url.js";

import type { Authenticate, IdentityOptions } from "./identity.js";
import type { TrustMode } from "./trust.js";
export type { IdentityChange, TrustMode } from "./trust.js";
export { BotCrypto, type CryptoOpenOptions } from "./crypto.js";
export { CryptoStoreFile, CryptoStoreLockedError, type CryptoStoreMeta } from "./store.js";
export { CryptoStoreLostError, EncryptionRequiredError, EncryptionStateUnknownError, type DecryptionFailure } from "./errors.js";
export { DECRYPTED_KEY, decryptionInfo, isDecrypted, type CryptoHost, type DecryptionInfo } from "./events.js";

export { IdentityError, type Authenticate, type AuthChallenge, type IdentityOptions, type IdentityOutcome, type IdentityReport } from "./identity.js";
export { SecretStorage, SecretStorageError } from "./secret-storage.js";
export { decodeRecoveryKey, encodeRecoveryKey, RecoveryKeyFormatError } from "./recovery-key.js";

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
    identity:
      o.crossSigning === false
        ? undefined
        : { recoveryKey: o.recoveryKey || undefined, recoveryKeyFile: o.recoveryKeyFile, resetIdentity: o.resetIdentity, authenticate: o.authenticate, showRecoveryKey: o.showRecoveryKey },
  };
}
