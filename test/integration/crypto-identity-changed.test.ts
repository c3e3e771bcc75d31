/**
 * `identityChanged` against Synapse (issue 13, section 3): a person the bot
 * shares an encrypted room with resets their cross-signing identity; the bot
 * emits `identityChanged` with the new master key, pins it, and goes on
 * answering them.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { IdentityChange } from "../../src/crypto/index.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { newBot, tempStorePath } from "../helpers/matrix.js";

async function crossSign(human: EncryptedHuman, fresh: boolean): Promise<void> {
  await human.client.getCrypto()!.bootstrapCrossSigning({
    setupNewCrossSigning: fresh,
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: human.userId }, password: human.account.password });
    },
  });
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("identityChanged", () => {
  test("a person resets their identity: the bot reports the new master key once and keeps answering them", async () => {
    const human = await EncryptedHuman.create("resetter");
    await crossSign(human, false);
    const { bot, account } = await newBot({ storePath: tempStorePath() });
    const changes: IdentityChange[] = [];
    bot.on("identityChanged", (change) => void changes.push(change));
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(roomId, bot.userId);
      await human.send(roomId, "!ping");
      await human.waitForMessage(roomId, bot.userId, (b) => b === "pong", 30_000);
      const machine = bot.crypto.olmMachine;
      const masterOf = async (): Promise<string | undefined> => {
        const identity = await machine.getIdentity(new UserId(human.userId));
        try {
          return identity ? Object.values((JSON.parse(identity.masterKey) as { keys: Record<string, string> }).keys)[0] : undefined;
        } finally {
          identity?.free();
        }
      };
      const oldMaster = await masterOf();
      assert.ok(oldMaster, "the bot knows the person's identity");
      assert.deepEqual(changes, [], "a first identity is no change");

      await crossSign(human, true);
      const newMaster = await human.client.getCrypto()!.getCrossSigningKeyId();
      assert.ok(newMaster && newMaster !== oldMaster);
      await waitUntil(() => changes.length > 0, "identityChanged");
      assert.deepEqual(changes, [{ userId: human.userId, own: false, masterKey: newMaster }]);
      assert.equal(await masterOf(), newMaster);

      await human.send(roomId, "!ping");
      await human.waitForMessage(roomId, bot.userId, (b) => b === "pong", 30_000);
      await waitUntil(async () => (human.client.getRoom(roomId)?.getLiveTimeline().getEvents().filter((e) => e.getSender() === bot.userId && e.getContent().body === "pong").length ?? 0) >= 2, "a second pong");
      assert.equal(changes.length, 1, "reported once");
    } finally {
      await bot.stop();
      human.stop();
    }
  });
});
