/**
 * The crypto store across restarts, against Synapse with matrix-js-sdk as the
 * human: same device after a restart, messages sent while the bot was down,
 * one process per store, a lost store, and Element-format key export/import.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createDecipheriv, createHmac, pbkdf2Sync } from "node:crypto";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { CryptoStoreLockedError, CryptoStoreLostError } from "../../src/crypto/index.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { newBot, newTestUser, tempStorePath } from "../helpers/matrix.js";
import { endpoints } from "../../src/api/endpoints.js";


type Bot = Awaited<ReturnType<typeof newBot>>["bot"];

function answerPings(bot: Bot): void {
  bot.on("message", async (room, event) => {
    const body = String(event.content.body);
    if (event.sender !== bot.userId && body.startsWith("!")) await bot.sendMessage(room.roomId, `answer to ${body}`);
  });
}

async function devicesOf(bot: Bot): Promise<string[]> {
  const { devices } = await bot.api.http.request<{ devices: { device_id: string }[] }>({ method: "GET", path: "/_matrix/client/v3/devices" });
  return devices.map((d) => d.device_id);
}

describe("crypto store persistence", () => {
  test("a restart keeps the device and its keys; a message sent while the bot was down is decrypted and answered", async () => {
    const storePath = tempStorePath();
    const human = await EncryptedHuman.create();
    const first = await newBot({ storePath });
    answerPings(first.bot);
    await first.bot.start({ password: first.account.password });
    const deviceId = first.bot.deviceId;
    const keys = first.bot.crypto.identityKeys;
    const roomId = await human.createEncryptedDm(first.bot.userId);
    try {
      await human.waitForJoin(roomId, first.bot.userId);
      await human.send(roomId, "!before");
      await human.waitForMessage(roomId, first.bot.userId, (b) => b === "answer to !before");
    } finally {
      await first.bot.stop();
    }
    try {
      await human.send(roomId, "!while-down");
      const again = await newBot({ storePath }, first.account);
      answerPings(again.bot);
      await again.bot.start(); // the stored login; no password
      try {
        assert.equal(again.bot.deviceId, deviceId);
        assert.deepEqual(again.bot.crypto.identityKeys, keys, "the same identity keys, restored from the store");
        const reply = await human.waitForMessage(roomId, again.bot.userId, (b) => b === "answer to !while-down");
        assert.equal(reply.getWireType(), "m.room.encrypted");
        assert.equal(reply.isDecryptionFailure(), false);
      } finally {
        await again.bot.stop();
      }
    } finally {
      human.stop();
    }
  });

  test("a second bot on the same crypto store is refused, in this process and in another one", async () => {
    const storePath = tempStorePath();
    const { bot, account } = await newBot({ storePath });
    await bot.start({ password: account.password });
    try {
      const other = await newBot({ storePath: join(dirname(storePath), "other.db"), cryptoStorePath: `${storePath}.crypto` }, account);
      await assert.rejects(other.bot.start({ password: account.password }), CryptoStoreLockedError);
      const script = `import { CryptoStoreFile } from ${JSON.stringify(new URL("../../src/crypto/store.ts", import.meta.url).pathname)};
        try { await new CryptoStoreFile(process.argv[1]).open(); console.log("opened"); } catch (e) { console.log(e.name); }`;
      const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, `${storePath}.crypto`], { encoding: "utf8" });
      assert.equal(child.stdout.trim(), "CryptoStoreLockedError", child.stderr);
    } finally {
      await bot.stop();
    }
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e",
      `import { CryptoStoreFile } from ${JSON.stringify(new URL("../../src/crypto/store.ts", import.meta.url).pathname)};
       const s = new CryptoStoreFile(process.argv[1]); console.log((await s.open()).kind); await s.close();`, `${storePath}.crypto`], { encoding: "utf8" });
    assert.equal(child.stdout.trim(), "restored", `free again once the first bot stopped: ${child.stderr}`);
  });

  test("a lost crypto store never reuses the device: a new device with the password, the old one deleted", async () => {
    const storePath = tempStorePath();
    let recoveryKey = "";
    // The first start creates the account's identity; a new device joins it with the recovery key.
    const first = await newBot({ storePath, showRecoveryKey: (key) => (recoveryKey = key) });
    await first.bot.start({ password: first.account.password });
    const oldDevice = first.bot.deviceId as string;
    await first.bot.stop();

    rmSync(`${storePath}.crypto`);
    const tokenOnly = await newBot({ storePath }, first.account);
    await assert.rejects(tokenOnly.bot.start(), (e: unknown) => e instanceof CryptoStoreLostError && e.message.includes(oldDevice));

    const human = await EncryptedHuman.create();
    const again = await newBot({ storePath, recoveryKey }, first.account);
    answerPings(again.bot);
    await again.bot.start({ password: first.account.password });
    try {
      const newDevice = again.bot.deviceId as string;
      assert.notEqual(newDevice, oldDevice);
      const devices = await devicesOf(again.bot);
      assert.ok(devices.includes(newDevice));
      assert.ok(!devices.includes(oldDevice), "the device whose keys were lost is deleted");
      const roomId = await human.createEncryptedDm(again.bot.userId);
      await human.waitForJoin(roomId, again.bot.userId);
      await human.send(roomId, "!new-device");
      await human.waitForMessage(roomId, again.bot.userId, (b) => b === "answer to !new-device");
    } finally {
      human.stop();
      await again.bot.stop();
    }

    // An unreadable store is set aside, and the same rule applies.
    writeFileSync(`${storePath}.crypto`, "garbage");
    const third = await newBot({ storePath, recoveryKey }, first.account);
    await third.bot.start({ password: first.account.password });
    try {
      assert.notEqual(third.bot.deviceId, again.bot.deviceId);
      assert.ok(readdirSync(dirname(storePath)).some((f) => f.startsWith("bot.db.crypto.unreadable-")));
    } finally {
      await third.bot.stop();
    }
  });

  test("room keys export in Element's format and import into another device, which then handles the old message", async () => {
    const human = await EncryptedHuman.create();
    // Without cross-signing there is no key backup either: the keys can only come from the export.
    const a = await newBot({ storePath: tempStorePath(), crossSigning: false });
    await a.bot.start({ password: a.account.password });
    let roomId: string;
    let eventId: string;
    let exported: string;
    try {
      roomId = await human.createEncryptedDm(a.bot.userId);
      await human.waitForJoin(roomId, a.bot.userId);
      const got = a.bot.waitForEvent("message", (_r, e) => e.sender === human.userId, 20_000);
      eventId = await human.send(roomId, "keep this secret");
      await got;
      exported = await a.bot.crypto.exportRoomKeys("correct horse battery staple", 10_000);
    } finally {
      await a.bot.stop();
    }
    // Decrypted here with the spec's algorithm (not with the crypto library) to check the format.
    const sessions = decryptKeyExport(exported, "correct horse battery staple") as { room_id: string; session_id: string; algorithm: string }[];
    assert.ok(sessions.some((s) => s.room_id === roomId && s.algorithm === "m.megolm.v1.aes-sha2"));
    assert.throws(() => decryptKeyExport(exported, "wrong"), /HMAC/);

    const b = await newBot({ storePath: tempStorePath(), crossSigning: false }, a.account);
    const handled: ClientEvent[] = [];
    b.bot.on("message", (_room, event) => void handled.push(event));
    await b.bot.start({ password: a.account.password });
    try {
      assert.notEqual(b.bot.deviceId, a.account.deviceId);
      const room = b.bot.getRoom(roomId);
      assert.ok(room);
      const event = await b.bot.api.rooms.event(roomId, eventId);
      assert.equal(await b.bot.crypto.decrypt(room, event), undefined, "a new device has no key for the old message");
      await assert.rejects(b.bot.crypto.importRoomKeys(exported, "wrong passphrase"));
      const result = await b.bot.crypto.importRoomKeys(exported, "correct horse battery staple");
      assert.ok(result.imported >= 1 && result.total >= result.imported);
      const deadline = Date.now() + 10_000;
      while (!handled.some((e) => e.event_id === eventId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(handled.find((e) => e.event_id === eventId)?.content.body, "keep this secret");
    } finally {
      human.stop();
      await b.bot.stop();
    }
  });
});

describe("cross-signing", () => {
  test("on a fresh account the bot publishes cross-signing keys at start and signs its device; it survives a restart", async () => {
    const storePath = tempStorePath();
    const first = await newBot({ storePath, showRecoveryKey: () => undefined });
    await first.bot.start({ password: first.account.password });
    try {
      assert.equal(first.bot.crypto.identity?.outcome, "created");
      assert.equal(await first.bot.crypto.bootstrapCrossSigning(first.account.password), "already");
    } finally {
      await first.bot.stop();
    }
    const observer = await newTestUser("observer");
    const userId = first.bot.userId;
    const deviceId = first.bot.deviceId as string;
    const keys = (await observer.api.call(endpoints.keysQuery, { body: { device_keys: { [userId]: [] } } })) as {
      master_keys?: Record<string, unknown>;
      self_signing_keys?: Record<string, { keys: Record<string, string> }>;
      device_keys?: Record<string, Record<string, { signatures?: Record<string, Record<string, string>> }>>;
    };
    assert.ok(keys.master_keys?.[userId], "a master key is published");
    const selfSigning = Object.keys(keys.self_signing_keys?.[userId]?.keys ?? {})[0];
    assert.ok(selfSigning, "a self-signing key is published");
    const signatures = keys.device_keys?.[userId]?.[deviceId]?.signatures?.[userId] ?? {};
    assert.ok(signatures[selfSigning], "the bot's device is signed by its self-signing key");

    const again = await newBot({ storePath }, first.account);
    await again.bot.start();
    try {
      assert.equal(again.bot.crypto.identity?.outcome, "stored", "the private keys persist");
      assert.equal(again.bot.crypto.identity?.signedNow, false);
    } finally {
      await again.bot.stop();
    }
  });
});

/** The spec's key export format ("Key exports"): PBKDF2-SHA-512, AES-256-CTR, HMAC-SHA-256. */
function decryptKeyExport(text: string, passphrase: string): unknown {
  const match = /-----BEGIN MEGOLM SESSION DATA-----([\s\S]*?)-----END MEGOLM SESSION DATA-----/.exec(text);
  assert.ok(match?.[1], "armoured like Element's export");
  const data = Buffer.from(match[1].replace(/\s+/g, ""), "base64");
  assert.equal(data[0], 1, "format version 1");
  const salt = data.subarray(1, 17);
  const iv = data.subarray(17, 33);
  const rounds = data.readUInt32BE(33);
  const ciphertext = data.subarray(37, data.length - 32);
  const mac = data.subarray(data.length - 32);
  const keys = pbkdf2Sync(passphrase, salt, rounds, 64, "sha512");
  const expected = createHmac("sha256", keys.subarray(32)).update(data.subarray(0, data.length - 32)).digest();
  if (!expected.equals(mac)) throw new Error("HMAC mismatch: wrong passphrase");
  const decipher = createDecipheriv("aes-256-ctr", keys.subarray(0, 32), iv);
  return JSON.parse(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8"));
}

