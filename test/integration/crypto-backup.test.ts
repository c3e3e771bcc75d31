/**
 * Key backup against Synapse (issue 13, section 2), with matrix-js-sdk as the
 * owner's client and as a strict human: uploads in the background (a reply
 * never waits for one), a new device reads an old message through the
 * backup, a replaced backup version is adopted through secret storage.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, test } from "node:test";
import { OnlySignedDevicesIsolationMode } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { FetchLike } from "../../src/api/http.js";
import { EncryptedHuman, MEGOLM } from "../helpers/e2ee-human.js";
import { countingFetch, newBot, newUser, tempStorePath } from "../helpers/matrix.js";
import { OwnerClient } from "../helpers/owner-client.js";

async function strictHuman(): Promise<EncryptedHuman> {
  const human = await EncryptedHuman.create();
  const crypto = human.client.getCrypto()!;
  await crypto.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: human.userId }, password: human.account.password });
    },
  });
  crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
  return human;
}

/** Holds key backup uploads until released: proves that nothing else waits for them. */
function gatedBackupFetch(): { fetch: FetchLike; hold(): void; release(): void; held: () => number } {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let held = 0;
  return {
    fetch: async (input, init) => {
      if (gate && init.method === "PUT" && new URL(input).pathname.endsWith("/room_keys/keys")) {
        held++;
        await gate;
      }
      return fetch(input, init);
    },
    hold: () => void (gate = new Promise((r) => (open = r))),
    release: () => {
      gate = undefined;
      open?.();
    },
    held: () => held,
  };
}

describe("key backup", () => {
  test("store lost: the new device joins the identity, answers a strict human, and reads an old message through the backup", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account);
    const human = await strictHuman();
    const storePath = tempStorePath();
    const gate = gatedBackupFetch();
    const first = (await newBot({ storePath, recoveryKey: owner.recoveryKey, fetch: gate.fetch }, account)).bot;
    first.command("ping", (ctx) => ctx.respond("pong"));
    let roomId = "";
    let oldEventId = "";
    try {
      await first.start({ password: account.password });
      assert.ok(first.crypto.backup?.enabled, "the owner's backup is adopted with the recovery key");
      roomId = await human.createEncryptedDm(first.userId);
      await human.waitForJoin(roomId, first.userId);
      gate.hold();
      await human.send(roomId, "!ping");
      // Answered while every backup upload is held back: the reply does not wait for one.
      await human.waitForMessage(roomId, first.userId, (b) => b === "pong", 30_000);
      oldEventId = await human.send(roomId, "written before the store was lost");
      await first.waitForEvent("message", (_r, e) => e.event_id === oldEventId, 20_000);
      assert.ok(gate.held() >= 1, "an upload was attempted and held");
      gate.release();
      await first.crypto.backup!.flush();
      assert.ok(first.crypto.backup!.stats.uploadedKeys >= 2, "the human's and the bot's room keys are backed up");
    } finally {
      gate.release();
      await first.stop();
    }

    rmSync(`${storePath}.crypto`);
    const second = (await newBot({ storePath, recoveryKey: owner.recoveryKey }, account)).bot;
    second.command("ping", (ctx) => ctx.respond("pong again"));
    try {
      await second.start({ password: account.password });
      assert.notEqual(second.deviceId, first.deviceId);
      assert.equal(second.crypto.identity?.outcome, "recovered");
      const old = await second.fetchMessage(roomId, oldEventId);
      assert.equal(old.type, "m.room.message");
      assert.equal(old.content.body, "written before the store was lost");
      await human.send(roomId, "!ping");
      await human.waitForMessage(roomId, second.userId, (b) => b === "pong again", 30_000);
    } finally {
      await second.stop();
      human.stop();
      owner.stop();
    }
  });

  test("costs: the upload cost per room key; a replaced backup version is adopted through secret storage", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account);
    const { bot } = await newBot({ storePath: tempStorePath(), recoveryKey: owner.recoveryKey }, account);
    try {
      await bot.start({ password: account.password });
      const backup = bot.crypto.backup!;
      const firstVersion = backup.stats.version;
      assert.ok(firstVersion);
      const rooms = 20;
      for (let i = 0; i < rooms; i++) {
        const { room_id } = await bot.api.call((await import("../../src/api/endpoints.js")).endpoints.createRoom, { body: { initial_state: [MEGOLM] } });
        for (let t = 0; t < 100 && !bot.getRoom(room_id)?.isEncrypted; t++) await new Promise((r) => setTimeout(r, 50));
        await bot.sendMessage(room_id, `room ${i}`);
      }
      await backup.flush();
      const s = backup.stats;
      assert.ok(s.uploadedKeys >= rooms, `${s.uploadedKeys} keys uploaded`);
      console.log(`# key backup: ${s.uploadedKeys} keys in ${s.uploads} requests, ${(s.uploadMs / s.uploadedKeys).toFixed(1)} ms and ${Math.round(s.uploadBytes / s.uploadedKeys)} bytes per key`);

      // The owner replaces the backup (new version, new key stored in secret storage).
      await owner.client.getCrypto()!.resetKeyBackup();
      const before = s.uploadedKeys;
      const { room_id } = await bot.api.call((await import("../../src/api/endpoints.js")).endpoints.createRoom, { body: { initial_state: [MEGOLM] } });
      for (let t = 0; t < 100 && !bot.getRoom(room_id)?.isEncrypted; t++) await new Promise((r) => setTimeout(r, 50));
      await bot.sendMessage(room_id, "after the reset");
      await backup.flush();
      for (let t = 0; t < 100 && (backup.stats.version === firstVersion || backup.stats.uploadedKeys === before); t++) {
        await new Promise((r) => setTimeout(r, 100));
        await backup.flush();
      }
      assert.notEqual(backup.stats.version, firstVersion, "the new version is adopted");
      assert.ok(backup.stats.uploadedKeys > before, "and uploads go on into it");
    } finally {
      await bot.stop();
      owner.stop();
    }
  });

  test("a backup deleted on the server with no replacement: the bot stops uploading, says so once, and keeps answering", async () => {
    const lines: string[] = [];
    const record = (level: string) => (a: unknown, b?: unknown): void => void lines.push(`${level} ${typeof a === "string" ? a : String(b)}`);
    const logger = { debug: () => undefined, info: record("info"), warn: record("warn"), error: record("error") };
    const counted = countingFetch();
    const { bot, account } = await newBot({ storePath: tempStorePath(), logger, fetch: counted.fetch });
    const errors: unknown[] = [];
    bot.on("error", (error) => void errors.push(error));
    try {
      await bot.start({ password: account.password });
      const backup = bot.crypto.backup!;
      const version = backup.stats.version;
      assert.ok(version, "the bot created a backup with its new identity");
      const { endpoints } = await import("../../src/api/endpoints.js");
      const encryptedRoom = async (): Promise<string> => {
        const { room_id } = await bot.api.call(endpoints.createRoom, { body: { initial_state: [MEGOLM] } });
        for (let t = 0; t < 100 && !bot.getRoom(room_id)?.isEncrypted; t++) await new Promise((r) => setTimeout(r, 50));
        return room_id;
      };
      await bot.api.call(endpoints.roomKeysVersionDelete, { path: { version } });

      // A new room key has nowhere to go: the upload finds the version gone.
      await bot.sendMessage(await encryptedRoom(), "after the deletion");
      for (let t = 0; t < 100 && backup.enabled; t++) {
        await new Promise((r) => setTimeout(r, 100));
        await backup.flush();
      }
      assert.equal(backup.enabled, false, "uploads stopped");
      assert.equal(lines.filter((l) => l.includes("deleted or replaced on the server")).length, 1, "logged once");
      const uploadsAfterGone = counted.counts.get("PUT /_matrix/client/v3/room_keys/keys") ?? 0;

      // More keys later: no retry into the dead version, no error, and the bot still sends.
      await bot.sendMessage(await encryptedRoom(), "and later");
      await new Promise((r) => setTimeout(r, 1500));
      await backup.flush();
      assert.equal(counted.counts.get("PUT /_matrix/client/v3/room_keys/keys") ?? 0, uploadsAfterGone, "no upload into the deleted version");
      assert.equal(lines.filter((l) => l.includes("deleted or replaced on the server")).length, 1, "still logged once");
      assert.deepEqual(errors, []);
      assert.ok(bot.running);
    } finally {
      await bot.stop();
    }
  });
});
