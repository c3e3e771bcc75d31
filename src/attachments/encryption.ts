/**
 * Encrypted attachments, as the spec's "Sending encrypted attachments"
 * defines them: AES-256-CTR with a fresh random key and IV per file, a
 * SHA-256 of the ciphertext, and the `EncryptedFile` object that carries the
 * key in the (Megolm-encrypted) room event.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { AttachmentDecryptionError } from "./errors.js";

/** The key of an {@link EncryptedFile}: a JSON Web Key with the W3C `ext` extension. */
export interface EncryptedFileKey {
  kty: "oct";
  key_ops: string[];
  alg: "A256CTR";
  /** The 256-bit key, URL-safe unpadded base64. */
  k: string;
  ext: true;
}

/**
 * The spec's `EncryptedFile`: where an encrypted blob is and how to decrypt it.
 * Sent as `file` (and `info.thumbnail_file`) instead of `url` in encrypted rooms.
 */
export interface EncryptedFile {
  /** The `mxc://` URI of the ciphertext. */
  url: string;
  key: EncryptedFileKey;
  /** The 128-bit initial counter block, unpadded base64. */
  iv: string;
  /** Hashes of the ciphertext, unpadded base64; `sha256` is required. */
  hashes: { sha256: string; [algorithm: string]: string };
  /** Protocol version; always `v2` when sending. */
  v: string;
}

/** The result of {@link encryptAttachment}: ciphertext to upload, and the `EncryptedFile` minus its `url`. */
export interface EncryptedAttachment {
  /** The ciphertext; upload it as `application/octet-stream`. */
  data: Uint8Array;
  /** Everything of the `EncryptedFile` but `url`, which the upload yields. */
  info: Omit<EncryptedFile, "url">;
}

/** Standard base64 without `=` padding (the spec's "unpadded base64"). */
export function unpaddedBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/=+$/, "");
}

/** URL-safe base64 without padding (JWK `k`). */
export function urlSafeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Decodes base64 in either alphabet, padded or not; rejects anything else
 * (Node's own decoder silently skips invalid characters).
 */
export function decodeBase64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new AttachmentDecryptionError(`${what} is not valid base64`);
  return Buffer.from(text, "base64");
}

/**
 * Encrypts a file for an encrypted room. Each call draws a new 256-bit key
 * and a new IV whose low 64 bits (the block counter) start at zero, as the
 * spec requires, so a file and its thumbnail never share key and IV.
 *
 * @example
 * const { data, info } = encryptAttachment(bytes);
 * const { content_uri } = await api.media.upload(data, "application/octet-stream");
 * const file: EncryptedFile = { url: content_uri, ...info };
 */
export function encryptAttachment(plaintext: Uint8Array): EncryptedAttachment {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  const data = new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final()]));
  const sha256 = createHash("sha256").update(data).digest();
  return {
    data,
    info: {
      key: { kty: "oct", key_ops: ["encrypt", "decrypt"], alg: "A256CTR", k: urlSafeBase64(key), ext: true },
      iv: unpaddedBase64(iv),
      hashes: { sha256: unpaddedBase64(sha256) },
      v: "v2",
    },
  };
}

/**
 * Verifies and decrypts a downloaded encrypted file. The SHA-256 of the
 * ciphertext is checked first, so a file the server altered is rejected
 * rather than decrypted into garbage.
 *
 * @throws {@link AttachmentDecryptionError} on a malformed `file` object or a hash mismatch.
 * @example
 * const plain = decryptAttachment(ciphertext, event.content.file);
 */
export function decryptAttachment(ciphertext: Uint8Array, file: Omit<EncryptedFile, "url"> & { url?: string }): Uint8Array {
  const { key, iv } = checkEncryptedFile(file);
  const expected = decodeBase64(file.hashes.sha256, "hashes.sha256");
  const actual = createHash("sha256").update(ciphertext).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new AttachmentDecryptionError(
      `hash mismatch for ${file.url ?? "encrypted file"}: the downloaded ciphertext has sha256 ${unpaddedBase64(actual)}, the event says ${file.hashes.sha256}`,
    );
  }
  const decipher = createDecipheriv("aes-256-ctr", key, iv);
  return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

/** Tells whether a value has the shape of an {@link EncryptedFile} (not that it will decrypt). */
export function isEncryptedFile(value: unknown): value is EncryptedFile {
  if (typeof value !== "object" || value === null) return false;
  const f = value as Record<string, unknown>;
  const key = f.key as Record<string, unknown> | undefined;
  const hashes = f.hashes as Record<string, unknown> | undefined;
  return (
    typeof f.url === "string" && typeof f.iv === "string" &&
    typeof key === "object" && key !== null && typeof key.k === "string" &&
    typeof hashes === "object" && hashes !== null && typeof hashes.sha256 === "string"
  );
}

function checkEncryptedFile(file: Omit<EncryptedFile, "url">): { key: Buffer; iv: Buffer } {
  if (typeof file !== "object" || file === null) throw new AttachmentDecryptionError("encrypted file info is missing");
  // v1 differed only in how the sender chose the IV; both decrypt the same way.
  if (file.v !== undefined && file.v !== "v2" && file.v !== "v1") throw new AttachmentDecryptionError(`unsupported encrypted attachment version ${JSON.stringify(file.v)}`);
  const jwk = file.key as Partial<EncryptedFileKey> | undefined;
  if (!jwk || typeof jwk.k !== "string") throw new AttachmentDecryptionError("encrypted file has no key");
  if (jwk.alg !== "A256CTR" || jwk.kty !== "oct") throw new AttachmentDecryptionError(`unsupported key: alg ${String(jwk.alg)}, kty ${String(jwk.kty)} (expected A256CTR, oct)`);
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes("decrypt")) throw new AttachmentDecryptionError("key_ops does not allow decrypt");
  if (typeof file.iv !== "string") throw new AttachmentDecryptionError("encrypted file has no iv");
  if (typeof file.hashes?.sha256 !== "string") throw new AttachmentDecryptionError("encrypted file has no sha256 hash");
  const key = decodeBase64(jwk.k, "key.k");
  const iv = decodeBase64(file.iv, "iv");
  if (key.length !== 32) throw new AttachmentDecryptionError(`key must be 256 bits, got ${key.length * 8}`);
  if (iv.length !== 16) throw new AttachmentDecryptionError(`iv must be 128 bits, got ${iv.length * 8}`);
  return { key, iv };
}
