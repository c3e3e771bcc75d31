/**
 * The bot's trust policy against Synapse (issue 13, section 3): in
 * "crossSigned" mode a message from a device its owner has not cross-signed
 * runs nothing and is reported as "untrusted"; in "all" mode it runs; in
 * either mode a privileged check (owner) needs a cross-signed device.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { isOwner } from "../../src/commands/checks.js";
import { decryptionInfo, type DecryptionFailure } from "../../src/crypto/index.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { newBot, tempStorePath } from "../helpers/matrix.js";

async function crossSign(human: EncryptedHuman): Promise<void> {
  await human.client.getCrypto()!.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: human.userId }, password: human.account.password });
    },
  });
}

async function waitUntil(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("trust policy", () => {
  for (const trust of ["all", "crossSigned"] as const) {
    test(`trust "${trust}": a command from a device its owner has not cross-signed ${trust === "all" ? "runs" : "does not run, and is reported untrusted"}`, async () => {
      const human = await EncryptedHuman.create();
      const { bot, account } = await newBot({ storePath: tempStorePath(), trust });
      const ran: ClientEvent[] = [];
      const failures: DecryptionFailure[] = [];
      bot.on("decryptionFailure", (_room, _event, failure) => void failures.push(failure));
      bot.command("ping", (ctx) => {
        ran.push(ctx.message);
        return ctx.respond("pong");
      });
      await bot.start({ password: account.password });
      try {
        const roomId = await human.createEncryptedDm(bot.userId);
        await human.waitForJoin(roomId, bot.userId);
        const eventId = await human.send(roomId, "!ping");
        if (trust === "all") {
          await waitUntil(() => ran.length === 1);
          assert.equal(decryptionInfo(ran[0]!)?.senderCrossSigned, false, "the event says its device is not cross-signed");
          await human.waitForMessage(roomId, bot.userId, (b) => b === "pong");
        } else {
          await waitUntil(() => failures.length > 0);
          assert.equal(failures[0]?.reason, "untrusted");
          assert.equal(failures[0]?.willRetry, false);
          // The same message from a device that is signed afterwards still stays unrun: it was judged when it arrived.
          await new Promise((r) => setTimeout(r, 500));
          assert.equal(ran.length, 0, `the command ${eventId} did not run`);
        }
      } finally {
        human.stop();
        await bot.stop();
      }
    });
  }

  test("the owner check needs a cross-signed device in an encrypted room, in the default mode too", async () => {
    const human = await EncryptedHuman.create("owner");
    const { bot, account } = await newBot({ storePath: tempStorePath(), ownerId: human.userId });
    bot.command("secret", { checks: [isOwner()] }, (ctx) => ctx.respond("owner-only answer"));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(roomId, bot.userId);
      await human.send(roomId, "!secret");
      const refusal = await human.waitForMessage(roomId, bot.userId, (b) => b.includes("verified session"));
      assert.ok(refusal, "an unsigned device of the owner's account is refused");
      assert.ok(!human.client.getRoom(roomId)?.getLiveTimeline().getEvents().some((e) => e.getContent().body === "owner-only answer"));

      await crossSign(human);
      // The bot learns of the signature through the device list change of a user it shares a room with.
      const deadline = Date.now() + 30_000;
      for (;;) {
        await human.send(roomId, "!secret");
        try {
          await human.waitForMessage(roomId, bot.userId, (b) => b === "owner-only answer", 3_000);
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
        }
      }
    } finally {
      human.stop();
      await bot.stop();
    }
  });
});
