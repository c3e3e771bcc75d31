import assert from "node:assert/strict";
import { createHash, randomBytes, webcrypto } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decryptAttachment, encryptAttachment, isEncryptedFile, type EncryptedFile } from "../../src/attachments/encryption.js";
import { AttachmentDecryptionError } from "../../src/attachments/errors.js";

const b64 = (s: string): Buffer => Buffer.from(s, "base64");

/** An independent AES-CTR with a 64-bit counter, as the spec words it: WebCrypto's `length: 64`. */
async function webCryptoCtr(op: "encrypt" | "decrypt", data: Uint8Array, k: string, iv: string): Promise<Uint8Array> {
  const key = await webcrypto.subtle.importKey("jwk", { kty: "oct", k, alg: "A256CTR", ext: true, key_ops: ["encrypt", "decrypt"] }, { name: "AES-CTR" }, false, [op]);
  return new Uint8Array(await webcrypto.subtle[op]({ name: "AES-CTR", counter: b64(iv), length: 64 }, key, data));
}

describe("encryptAttachment", () => {
  test("produces the spec's EncryptedFile fields", () => {
    const { data, info } = encryptAttachment(new TextEncoder().encode("hello"));
    assert.equal(data.length, 5);
    assert.deepEqual(Object.keys(info).sort(), ["hashes", "iv", "key", "v"]);
    assert.equal(info.v, "v2");
    assert.deepEqual({ ...info.key, k: undefined }, { kty: "oct", key_ops: ["encrypt", "decrypt"], alg: "A256CTR", k: undefined, ext: true });
    assert.match(info.key.k, /^[A-Za-z0-9_-]{43}$/, "k is URL-safe unpadded base64 of 32 bytes");
    assert.match(info.iv, /^[A-Za-z0-9+/]{22}$/, "iv is unpadded base64 of 16 bytes");
    assert.match(info.hashes.sha256, /^[A-Za-z0-9+/]{43}$/, "sha256 is unpadded base64 of 32 bytes");
    assert.deepEqual([...b64(info.iv).subarray(8)], [0, 0, 0, 0, 0, 0, 0, 0], "the 64-bit block counter starts at zero");
    assert.equal(createHash("sha256").update(data).digest("base64").replace(/=+$/, ""), info.hashes.sha256, "hash of the ciphertext");
  });

  test("never reuses a key or an IV", () => {
    const keys = new Set<string>();
    const ivs = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { info } = encryptAttachment(new Uint8Array(1));
      keys.add(info.key.k);
      ivs.add(info.iv);
    }
    assert.equal(keys.size, 200);
    assert.equal(ivs.size, 200);
  });

  test("round trip, for any content", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), (plain) => {
      const { data, info } = encryptAttachment(plain);
      assert.deepEqual(decryptAttachment(data, info), plain);
    }));
  });

  test("agrees with an independent AES-CTR (WebCrypto, 64-bit counter), both ways", async () => {
    const plain = randomBytes(100_003);
    const { data, info } = encryptAttachment(plain);
    assert.deepEqual(Buffer.from(await webCryptoCtr("decrypt", data, info.key.k, info.iv)), plain);

    const k = randomBytes(32).toString("base64url");
    const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]).toString("base64").replace(/=+$/, "");
    const cipher = await webCryptoCtr("encrypt", plain, k, iv);
    const file = {
      v: "v2",
      key: { kty: "oct" as const, key_ops: ["encrypt", "decrypt"], alg: "A256CTR" as const, k, ext: true as const },
      iv,
      hashes: { sha256: createHash("sha256").update(cipher).digest("base64").replace(/=+$/, "") },
    };
    assert.deepEqual(Buffer.from(decryptAttachment(cipher, file)), plain);
  });

  test("the spec's example EncryptedFile has the expected shape and sizes", () => {
    // From "Sending encrypted attachments" (end_to_end_encryption.md); its plaintext is not published.
    const example: EncryptedFile = {
      url: "mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe",
      v: "v2",
      key: { alg: "A256CTR", ext: true, k: "aWF6-32KGYaC3A_FEUCk1Bt0JA37zP0wrStgmdCaW-0", key_ops: ["encrypt", "decrypt"], kty: "oct" },
      iv: "w+sE15fzSc0AAAAAAAAAAA",
      hashes: { sha256: "fdSLu/YkRx3Wyh3KQabP3rd6+SFiKg5lsJZQHtkSAYA" },
    };
    assert.ok(isEncryptedFile(example));
    assert.equal(Buffer.from(example.key.k, "base64url").length, 32);
    assert.equal(b64(example.iv).length, 16);
    assert.deepEqual([...b64(example.iv).subarray(8)], [0, 0, 0, 0, 0, 0, 0, 0]);
    // Any other ciphertext must fail the hash check, not decrypt into garbage.
    assert.throws(() => decryptAttachment(new Uint8Array(16), example), AttachmentDecryptionError);
  });
});

describe("decryptAttachment", () => {
  const sample = (): { data: Uint8Array; info: ReturnType<typeof encryptAttachment>["info"] } => encryptAttachment(randomBytes(64));

  test("a changed ciphertext is a hash mismatch", () => {
    const { data, info } = sample();
    data[10] = (data[10] ?? 0) ^ 1;
    assert.throws(() => decryptAttachment(data, info), (e: unknown) => e instanceof AttachmentDecryptionError && /hash mismatch/.test(e.message));
  });

  test("malformed file objects are clear errors", () => {
    const { data, info } = sample();
    const cases: Array<[string, unknown]> = [
      ["alg", { ...info, key: { ...info.key, alg: "A128CTR" } }],
      ["kty", { ...info, key: { ...info.key, kty: "RSA" } }],
      ["256 bits", { ...info, key: { ...info.key, k: "AAAA" } }],
      ["128 bits", { ...info, iv: "AAAA" }],
      ["base64", { ...info, iv: "not base64!!" }],
      ["version", { ...info, v: "v3" }],
      ["sha256", { ...info, hashes: {} }],
      ["decrypt", { ...info, key: { ...info.key, key_ops: ["encrypt"] } }],
    ];
    for (const [pattern, file] of cases) {
      assert.throws(() => decryptAttachment(data, file as EncryptedFile), (e: unknown) => e instanceof AttachmentDecryptionError && e.message.includes(pattern), pattern);
    }
  });

  test("padded and unpadded base64 both decode", () => {
    const { data, info } = sample();
    const padded = { ...info, iv: `${info.iv}==`, hashes: { sha256: `${info.hashes.sha256}=` } };
    assert.equal(decryptAttachment(data, padded).length, 64);
  });
});
