/**
 * The recovery key: the secret storage key as people write it down. Per the
 * spec's "cryptographic key representation": the bytes `0x8B 0x01`, the 32
 * key bytes and a parity byte (XOR of all the others), base58-encoded
 * (Bitcoin alphabet) and shown in groups of four characters.
 *
 * @module
 */

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const PREFIX = [0x8b, 0x01] as const;
const KEY_BYTES = 32;
/** A real recovery key is 48 characters plus spaces; anything much longer is not one, and is not decoded. */
const MAX_INPUT = 200;

/** Why a string is not a recovery key. Says which check failed, never the key itself. */
export class RecoveryKeyFormatError extends Error {
  override readonly name = "RecoveryKeyFormatError";
  constructor(readonly check: "length" | "alphabet" | "prefix" | "parity") {
    const what = {
      length: "it has the wrong length",
      alphabet: "it contains a character that is not in the base58 alphabet",
      prefix: "it does not start with the recovery key prefix (0x8B 0x01)",
      parity: "its parity byte does not match (a character is mistyped)",
    }[check];
    super(`the recovery key is malformed: ${what}`);
  }
}

/** Base58 (Bitcoin alphabet) encoding of bytes. */
export function encodeBase58(bytes: Uint8Array): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = "";
  while (value > 0n) {
    out = ALPHABET[Number(value % 58n)] + out;
    value /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

/** Base58 decoding; undefined for a character outside the alphabet. */
export function decodeBase58(text: string): Uint8Array | undefined {
  let value = 0n;
  for (const ch of text) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) return undefined;
    value = value * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  while (value > 0n) {
    bytes.unshift(Number(value & 0xffn));
    value >>= 8n;
  }
  for (const ch of text) {
    if (ch !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

/**
 * Encodes a 32-byte secret storage key as a recovery key.
 *
 * @example
 * encodeRecoveryKey(crypto.getRandomValues(new Uint8Array(32))) // "EsTc LW2K ..."
 */
export function encodeRecoveryKey(key: Uint8Array): string {
  if (key.length !== KEY_BYTES) throw new RangeError(`a secret storage key has ${KEY_BYTES} bytes, not ${key.length}`);
  const buf = new Uint8Array(PREFIX.length + KEY_BYTES + 1);
  buf.set(PREFIX, 0);
  buf.set(key, PREFIX.length);
  let parity = 0;
  for (let i = 0; i < buf.length - 1; i++) parity ^= buf[i]!;
  buf[buf.length - 1] = parity;
  return (encodeBase58(buf).match(/.{1,4}/g) ?? []).join(" ");
}

/**
 * Decodes a recovery key (spaces and line breaks anywhere are ignored) to
 * the 32-byte secret storage key.
 *
 * @throws {@link RecoveryKeyFormatError} naming the check that failed.
 */
export function decodeRecoveryKey(recoveryKey: string): Uint8Array {
  if (recoveryKey.length > MAX_INPUT) throw new RecoveryKeyFormatError("length");
  const bytes = decodeBase58(recoveryKey.replace(/\s+/g, ""));
  if (!bytes) throw new RecoveryKeyFormatError("alphabet");
  if (bytes.length !== PREFIX.length + KEY_BYTES + 1) throw new RecoveryKeyFormatError("length");
  if (bytes[0] !== PREFIX[0] || bytes[1] !== PREFIX[1]) throw new RecoveryKeyFormatError("prefix");
  let parity = 0;
  for (const b of bytes) parity ^= b;
  if (parity !== 0) throw new RecoveryKeyFormatError("parity");
  return bytes.slice(PREFIX.length, PREFIX.length + KEY_BYTES);
}

/** Whether a string looks like a recovery key rather than a passphrase (decodes cleanly). */
export function isRecoveryKey(text: string): boolean {
  try {
    decodeRecoveryKey(text);
    return true;
  } catch {
    return false;
  }
}
