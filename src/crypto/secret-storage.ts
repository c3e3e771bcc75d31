/**
 * Secret storage ("SSSS", spec client-server "Secrets"): secrets kept in the
 * account data, encrypted with `m.secret_storage.v1.aes-hmac-sha2` (AES-CTR-256
 * and HMAC-SHA-256 with keys from HKDF-SHA-256), under a key the owner holds
 * as a recovery key or derives from a passphrase (PBKDF2-SHA-512). Everything
 * runs on WebCrypto (`globalThis.crypto.subtle`).
 *
 * @module
 */
import type { webcrypto } from "node:crypto";
import type { MatrixApi } from "../api/client.js";
import { endpoints } from "../api/endpoints.js";
import { MatrixError } from "../api/errors.js";
import { decodeRecoveryKey, encodeRecoveryKey, RecoveryKeyFormatError } from "./recovery-key.js";

const subtle = globalThis.crypto.subtle;
/** The only secret storage algorithm in the spec. */
export const AES_HMAC_SHA2 = "m.secret_storage.v1.aes-hmac-sha2";
/** The most PBKDF2 rounds accepted from account data: more would stall the start on a hostile value. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;

/** A key description (`m.secret_storage.key.<id>` account data). */
export interface SecretStorageKeyDescription {
  name?: string;
  algorithm: string;
  iv?: string;
  mac?: string;
  passphrase?: { algorithm: string; salt: string; iterations: number; bits?: number };
}

/** One secret encrypted with one key (`encrypted.<keyId>` of a secret's account data). */
export interface EncryptedSecret {
  iv: string;
  ciphertext: string;
  mac: string;
}

/**
 * Secret storage could not be opened or read: which step failed is in
 * `check`, and the message says it in words. Never carries the key.
 */
export class SecretStorageError extends Error {
  override readonly name = "SecretStorageError";
  constructor(
    readonly check: "no-default-key" | "no-key-description" | "algorithm" | "key-format" | "key-mac" | "passphrase" | "missing-secret" | "secret-mac",
    message: string,
  ) {
    super(message);
  }
}

/** Unpadded base64 (what the spec asks to write); reading accepts padded too. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

function buf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function deriveKeys(key: Uint8Array, name: string): Promise<{ aes: webcrypto.CryptoKey; hmac: webcrypto.CryptoKey }> {
  const hkdf = await subtle.importKey("raw", buf(key), "HKDF", false, ["deriveBits"]);
  const bits = new Uint8Array(
    await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: new TextEncoder().encode(name) }, hkdf, 512),
  );
  const aes = await subtle.importKey("raw", bits.slice(0, 32), { name: "AES-CTR" }, false, ["encrypt", "decrypt"]);
  const hmac = await subtle.importKey("raw", bits.slice(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return { aes, hmac };
}

/** Encrypts a secret under `name` (the account data type) with a 32-byte key. `iv` is for the key check and tests. */
export async function encryptSecret(key: Uint8Array, name: string, plaintext: string, iv?: Uint8Array): Promise<EncryptedSecret> {
  const { aes, hmac } = await deriveKeys(key, name);
  const counter = iv ? Uint8Array.from(iv) : globalThis.crypto.getRandomValues(new Uint8Array(16));
  // Bit 63 cleared, as the spec says, so AES-CTR implementations that differ on counter overflow agree.
  counter[8]! &= 0x7f;
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, aes, new TextEncoder().encode(plaintext)));
  const mac = new Uint8Array(await subtle.sign("HMAC", hmac, ciphertext));
  return { iv: toBase64(counter), ciphertext: toBase64(ciphertext), mac: toBase64(mac) };
}

/**
 * Decrypts a secret, checking its MAC first.
 *
 * @throws {@link SecretStorageError} (`secret-mac`) when the MAC does not match.
 */
export async function decryptSecret(key: Uint8Array, name: string, secret: EncryptedSecret): Promise<string> {
  const { aes, hmac } = await deriveKeys(key, name);
  const ciphertext = fromBase64(secret.ciphertext);
  if (!(await subtle.verify("HMAC", hmac, buf(fromBase64(secret.mac)), buf(ciphertext))))
    throw new SecretStorageError("secret-mac", `the secret ${name} does not match its MAC: it was not encrypted with this key, or it was tampered with`);
  const plain = await subtle.decrypt({ name: "AES-CTR", counter: buf(fromBase64(secret.iv)), length: 64 }, aes, buf(ciphertext));
  return new TextDecoder().decode(plain);
}

/** The `iv` and `mac` that let a client check a key (an encryption of 32 zero bytes under the name ""). */
export async function keyCheck(key: Uint8Array, iv?: Uint8Array): Promise<{ iv: string; mac: string }> {
  const { iv: outIv, mac } = await encryptSecret(key, "", String.fromCharCode(...new Uint8Array(32)), iv);
  return { iv: outIv, mac };
}

/** Whether a key matches its description's `iv`/`mac` (a description without them matches any key, per the spec). */
export async function checkKey(key: Uint8Array, description: SecretStorageKeyDescription): Promise<boolean> {
  if (typeof description.iv !== "string" || typeof description.mac !== "string") return true;
  const { mac } = await keyCheck(key, fromBase64(description.iv));
  return mac === description.mac.replace(/=+$/, "");
}

/** Derives a secret storage key from a passphrase (`m.pbkdf2`: PBKDF2 with SHA-512). */
export async function keyFromPassphrase(passphrase: string, salt: string, iterations: number, bits = 256): Promise<Uint8Array> {
  const material = await subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-512", salt: new TextEncoder().encode(salt), iterations }, material, bits));
}

/** An opened secret storage key: its id and its 32 bytes. */
export interface OpenedKey {
  keyId: string;
  key: Uint8Array;
}

/**
 * The account's secret storage, read and written through account data.
 *
 * @example
 * const storage = new SecretStorage(api, userId);
 * const opened = await storage.open(process.env.MATRIX_RECOVERY_KEY!);
 * const master = await storage.get(opened, "m.cross_signing.master");
 */
export class SecretStorage {
  constructor(
    private readonly api: MatrixApi,
    private readonly userId: string,
  ) {}

  /** Account data of the given type, or undefined when the server has none. */
  async accountData(type: string, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.api.call(endpoints.getAccountData, { path: { userId: this.userId, type }, signal });
    } catch (error) {
      if (error instanceof MatrixError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** The default key's id and description, or undefined when the account has no secret storage. */
  async defaultKey(signal?: AbortSignal): Promise<{ keyId: string; description: SecretStorageKeyDescription } | undefined> {
    const pointer = await this.accountData("m.secret_storage.default_key", signal);
    const keyId = pointer?.key;
    if (typeof keyId !== "string" || keyId === "") return undefined;
    const description = await this.accountData(`m.secret_storage.key.${keyId}`, signal);
    if (!description) throw new SecretStorageError("no-key-description", `the default secret storage key ${keyId} has no description in the account data`);
    return { keyId, description: description as unknown as SecretStorageKeyDescription };
  }

  /**
   * Opens the default key with a recovery key, or with a passphrase when the
   * text is not a recovery key and the key was made from one.
   *
   * @throws {@link SecretStorageError} naming the check that failed.
   */
  async open(recoveryKeyOrPassphrase: string, signal?: AbortSignal): Promise<OpenedKey> {
    const found = await this.defaultKey(signal);
    if (!found) throw new SecretStorageError("no-default-key", "the account has no secret storage (no m.secret_storage.default_key in its account data)");
    const { keyId, description } = found;
    if (description.algorithm !== AES_HMAC_SHA2)
      throw new SecretStorageError("algorithm", `the default secret storage key uses ${String(description.algorithm)}, not ${AES_HMAC_SHA2}`);
    let key: Uint8Array;
    try {
      key = decodeRecoveryKey(recoveryKeyOrPassphrase);
    } catch (error) {
      const p = description.passphrase;
      if (!p || p.algorithm !== "m.pbkdf2" || typeof p.salt !== "string" || !Number.isSafeInteger(p.iterations))
        throw new SecretStorageError("key-format", (error as RecoveryKeyFormatError).message + " (and the key was not made from a passphrase)");
      if (p.iterations < 1 || p.iterations > MAX_PBKDF2_ITERATIONS || (p.bits !== undefined && p.bits !== 256))
        throw new SecretStorageError("passphrase", "the passphrase parameters of the secret storage key are out of range");
      key = await keyFromPassphrase(recoveryKeyOrPassphrase, p.salt, p.iterations, p.bits ?? 256);
    }
    if (!(await checkKey(key, description)))
      throw new SecretStorageError("key-mac", `the recovery key does not open secret storage key ${keyId}: its MAC check failed (a different key, or a key of an earlier identity)`);
    return { keyId, key };
  }

  /** Reads and decrypts a secret; undefined when it is not stored under this key. */
  async get(opened: OpenedKey, name: string, signal?: AbortSignal): Promise<string | undefined> {
    const data = await this.accountData(name, signal);
    const encrypted = (data?.encrypted as Record<string, EncryptedSecret> | undefined)?.[opened.keyId];
    if (!encrypted || typeof encrypted.ciphertext !== "string" || typeof encrypted.iv !== "string" || typeof encrypted.mac !== "string") return undefined;
    return decryptSecret(opened.key, name, encrypted);
  }

  /** Encrypts and stores a secret under this key (replacing what was stored under other keys). */
  async put(opened: OpenedKey, name: string, value: string, signal?: AbortSignal): Promise<void> {
    const encrypted = await encryptSecret(opened.key, name, value);
    await this.api.call(endpoints.putAccountData, { path: { userId: this.userId, type: name }, body: { encrypted: { [opened.keyId]: encrypted } }, signal });
  }

  /**
   * Creates a new random key, stores its description and makes it the
   * default. Returns it with its recovery key (show it once, store it safely).
   */
  async create(signal?: AbortSignal): Promise<OpenedKey & { recoveryKey: string }> {
    const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const keyId = toBase64(globalThis.crypto.getRandomValues(new Uint8Array(24))).replace(/[+/]/g, "x");
    const check = await keyCheck(key);
    const description: SecretStorageKeyDescription = { name: "niobot recovery key", algorithm: AES_HMAC_SHA2, ...check };
    await this.api.call(endpoints.putAccountData, { path: { userId: this.userId, type: `m.secret_storage.key.${keyId}` }, body: { ...description }, signal });
    await this.api.call(endpoints.putAccountData, { path: { userId: this.userId, type: "m.secret_storage.default_key" }, body: { key: keyId }, signal });
    return { keyId, key, recoveryKey: encodeRecoveryKey(key) };
  }
}
