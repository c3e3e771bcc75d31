/**
 * End-to-end encryption (issue 7): transparent decryption before dispatch,
 * encryption before sending into encrypted rooms, and a crypto store that
 * survives restarts. Built on `@matrix-org/matrix-sdk-crypto-wasm`, which
 * needs no native binary; its IndexedDB store is provided by
 * `fake-indexeddb` and persisted as an atomic snapshot file.
 *
 * Cross-signing: `bot.crypto.bootstrapCrossSigning(password)` creates the
 * account's cross-signing keys and signs the bot's device, for an account
 * that has none yet. Adopting existing keys from a recovery key (secret
 * storage) is not supported yet; without cross-signing the bot's device is an
 * ordinary unverified device, and messages still flow both ways.
 *
 * @module
 */
import { registerSecret } from "../logging/redact.js";

export { BotCrypto, type CryptoOpenOptions } from "./crypto.js";
export { CryptoStoreFile, CryptoStoreLockedError, type CryptoStoreMeta } from "./store.js";
export { CryptoStoreLostError, EncryptionRequiredError, EncryptionStateUnknownError, type DecryptionFailure } from "./errors.js";
export { DECRYPTED_KEY, decryptionInfo, isDecrypted, type CryptoHost, type DecryptionInfo } from "./events.js";

/** The bot options that decide the crypto setup. */
export interface CryptoBotOptions {
  encryption?: boolean;
  storePath?: string;
  cryptoStorePath?: string;
  cryptoStorePassphrase?: string;
  deviceName?: string;
}

/** The resolved crypto setup of a bot. */
export interface ResolvedCryptoOptions {
  enabled: boolean;
  storePath: string | undefined;
  passphrase: string | undefined;
  deviceName: string;
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
  const storePath = o.cryptoStorePath ?? (o.storePath && o.storePath !== ":memory:" ? `${o.storePath}.crypto` : undefined);
  return {
    enabled: o.encryption ?? storePath !== undefined,
    storePath,
    passphrase: o.cryptoStorePassphrase,
    deviceName: o.deviceName ?? "niobot",
  };
}
