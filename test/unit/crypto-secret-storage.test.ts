/**
 * Secret storage primitives against an independent implementation
 * (matrix-js-sdk's, the one Element uses): recovery keys, key checks,
 * secret encryption both ways, passphrase keys.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeRecoveryKey as sdkDecode, deriveRecoveryKeyFromPassphrase, encodeRecoveryKey as sdkEncode } from "matrix-js-sdk/lib/crypto-api/index.js";
import { calculateKeyCheck } from "matrix-js-sdk/lib/secret-storage.js";
import sdkEncrypt from "matrix-js-sdk/lib/utils/encryptAESSecretStorageItem.js";
import sdkDecrypt from "matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js";
import { decodeBase58, decodeRecoveryKey, encodeBase58, encodeRecoveryKey, RecoveryKeyFormatError } from "../../src/crypto/recovery-key.js";
import { AES_HMAC_SHA2, checkKey, decryptSecret, encryptSecret, keyCheck, keyFromPassphrase, SecretStorageError } from "../../src/crypto/secret-storage.js";

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("recovery key", () => {
  test("encodes exactly as matrix-js-sdk, and decodes what it encodes", () => {
    fc.assert(
      fc.property(key32, (key) => {
        const ours = encodeRecoveryKey(key);
        assert.equal(ours, sdkEncode(key));
        assert.deepEqual(decodeRecoveryKey(ours), key);
        assert.deepEqual(sdkDecode(ours), key);
      }),
      { numRuns: 100 },
    );
  });

  test("base58 round-trips, leading zero bytes included", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => assert.deepEqual(decodeBase58(encodeBase58(bytes)), bytes)));
  });

  test("each malformed key names the check that failed", () => {
    const key = encodeRecoveryKey(new Uint8Array(32).fill(7));
    const check = (text: string) => {
      try {
        decodeRecoveryKey(text);
        return "ok";
      } catch (error) {
        assert.ok(error instanceof RecoveryKeyFormatError);
        assert.ok(!error.message.includes(text.replace(/\s/g, "").slice(0, 12)), "the message never repeats the key");
        return error.check;
      }
    };
    assert.equal(check(key), "ok");
    assert.equal(check(key.replace(/\s/g, "\n")), "ok", "whitespace anywhere is ignored");
    assert.equal(check(key.slice(0, -2)), "length");
    assert.equal(check(key + "0"), "alphabet");
    assert.equal(check("x".repeat(10_000)), "length");
    // Swap one character for another valid one: the parity byte catches it.
    const chars = [...key];
    const i = chars.findIndex((c, idx) => idx > 5 && c !== " ");
    chars[i] = chars[i] === "a" ? "b" : "a";
    assert.equal(check(chars.join("")), "parity");
    // A 35-byte value with another prefix.
    const other = new Uint8Array(35);
    other[0] = 0x8b;
    other[1] = 0x02;
    other[34] = other.slice(0, 34).reduce((a, b) => a ^ b, 0);
    assert.equal(check(encodeBase58(other)), "prefix");
  });
});

describe("secret storage encryption", () => {
  test("secrets we encrypt decrypt with matrix-js-sdk, and the other way round", async () => {
    await fc.assert(
      fc.asyncProperty(key32, fc.string({ maxLength: 100 }), fc.constantFrom("m.cross_signing.master", "m.megolm_backup.v1"), async (key, secret, name) => {
        const ours = await encryptSecret(key, name, secret);
        assert.ok(!ours.iv.endsWith("=") && !ours.mac.endsWith("="), "unpadded base64, as the spec asks");
        assert.equal(await sdkDecrypt(ours, key, name), secret);
        const theirs = await sdkEncrypt(secret, key, name);
        assert.equal(await decryptSecret(key, name, theirs), secret);
      }),
      { numRuns: 30 },
    );
  });

  test("a secret under another name or key fails its MAC check", async () => {
    const key = new Uint8Array(32).fill(1);
    const encrypted = await encryptSecret(key, "m.cross_signing.master", "seed");
    await assert.rejects(decryptSecret(key, "m.cross_signing.self_signing", encrypted), (e) => e instanceof SecretStorageError && e.check === "secret-mac");
    await assert.rejects(decryptSecret(new Uint8Array(32).fill(2), "m.cross_signing.master", encrypted), (e) => e instanceof SecretStorageError && e.check === "secret-mac");
  });

  test("the key check matches matrix-js-sdk's and tells right from wrong keys (padded or not)", async () => {
    const key = new Uint8Array(32).fill(9);
    const theirs = await calculateKeyCheck(key);
    const ours = await keyCheck(key, new Uint8Array(Buffer.from(theirs.iv, "base64")));
    assert.equal(ours.mac, theirs.mac.replace(/=+$/, ""));
    assert.equal(await checkKey(key, { algorithm: AES_HMAC_SHA2, iv: theirs.iv, mac: theirs.mac }), true);
    assert.equal(await checkKey(key, { algorithm: AES_HMAC_SHA2, iv: theirs.iv, mac: theirs.mac.replace(/=+$/, "") }), true);
    assert.equal(await checkKey(new Uint8Array(32).fill(8), { algorithm: AES_HMAC_SHA2, iv: theirs.iv, mac: theirs.mac }), false);
    assert.equal(await checkKey(new Uint8Array(32), { algorithm: AES_HMAC_SHA2 }), true, "without iv/mac a key cannot be checked, so it is accepted");
  });

  test("passphrase keys are derived as matrix-js-sdk derives them", async () => {
    const ours = await keyFromPassphrase("correct horse battery staple", "saltsalt", 1000);
    assert.deepEqual(ours, await deriveRecoveryKeyFromPassphrase("correct horse battery staple", "saltsalt", 1000));
    assert.equal(ours.length, 32);
  });
});
