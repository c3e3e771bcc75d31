/**
 * SAS verification against Synapse (issue 13, section 4), with matrix-js-sdk
 * (Rust crypto) as the person: they verify the bot from their client (in
 * their DM, or to the bot's device), and the bot starts one itself (to their
 * device, or in the DM). Both sides show the same emoji, both confirm, and
 * afterwards each side reports the other as verified: the person's client
 * sees the bot's user and device verified, the bot's machine sees the
 * person's identity verified (signed with the bot's user-signing key).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CryptoEvent, VerificationPhase, VerificationRequestEvent, VerifierEvent, type ShowSasCallbacks, type VerificationRequest } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { NioBot } from "../../src/bot/bot.js";
import type { Verification } from "../../src/crypto/index.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { MatrixApi } from "../../src/api/client.js";
import { queryServerIdentity } from "../../src/crypto/identity.js";
import { homeserver, newBot, newUser, tempStorePath } from "../helpers/matrix.js";
import { OwnerClient } from "../helpers/owner-client.js";

async function crossSign(human: EncryptedHuman): Promise<void> {
  await human.client.getCrypto()!.bootstrapCrossSigning({
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

/** Resolves with the js-sdk request's verifier once it has one (the SAS was started by either side). */
async function verifierOf(request: VerificationRequest): Promise<NonNullable<VerificationRequest["verifier"]>> {
  await waitUntil(() => request.verifier !== undefined || request.phase === VerificationPhase.Cancelled, "the person's client to see the SAS start");
  if (!request.verifier) throw new Error(`the request was cancelled: ${request.cancellationCode}`);
  return request.verifier;
}

/** The person's side of a SAS: returns the emoji it shows and a function that confirms and waits for the end. */
async function personSas(request: VerificationRequest): Promise<{ emoji: string[]; confirm: () => Promise<void> }> {
  const verifier = await verifierOf(request);
  const shown = new Promise<ShowSasCallbacks>((resolve) => verifier.once(VerifierEvent.ShowSas, resolve));
  const finished = verifier.verify();
  finished.catch(() => undefined);
  const sas = await Promise.race([shown, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the person's client showed no SAS")), 30_000).unref())]);
  return {
    emoji: (sas.sas.emoji ?? []).map(([symbol]) => symbol),
    confirm: async () => {
      await sas.confirm();
      await finished;
    },
  };
}

/** A cross-signed person and a bot that share an encrypted DM (so each tracks the other's devices). */
async function started(o: { listen?: boolean; autoVerify?: boolean } = {}): Promise<{ bot: NioBot; human: EncryptedHuman; presented: Verification[]; roomId: string }> {
  const human = await EncryptedHuman.create("person");
  await crossSign(human);
  const { bot, account } = await newBot({ storePath: tempStorePath(), ...(o.autoVerify ? { autoVerify: { users: [human.userId] } } : {}) });
  const presented: Verification[] = [];
  if (o.listen ?? true) bot.on("verificationRequest", (v) => void presented.push(v));
  await bot.start({ password: account.password });
  const roomId = await human.createEncryptedDm(bot.userId);
  await human.waitForJoin(roomId, bot.userId);
  await waitUntil(async () => (await human.client.getCrypto()!.getUserDeviceInfo([bot.userId])).get(bot.userId)?.has(bot.deviceId!) === true, "the person's client to know the bot's device");
  return { bot, human, presented, roomId };
}

/** Both sides compare the emoji, then confirm; returns the emoji. */
async function compareAndConfirm(verification: Verification, person: { emoji: string[]; confirm: () => Promise<void> }): Promise<string[]> {
  const { emoji, decimals } = await verification.shortAuthString(AbortSignal.timeout(30_000));
  assert.equal(decimals.length, 3);
  const botEmoji = (emoji ?? []).map((e) => e.symbol);
  assert.equal(botEmoji.length, 7, "seven emoji");
  assert.deepEqual(botEmoji, person.emoji, "both sides show the same emoji");
  await Promise.all([verification.confirm(), person.confirm()]);
  await verification.done(AbortSignal.timeout(30_000));
  assert.equal(verification.state, "done");
  return botEmoji;
}

/** In an encrypted DM, everything the bot sent for the verification went out encrypted. */
function assertBotSentEncrypted(human: EncryptedHuman, roomId: string, bot: NioBot): void {
  const wire = human.wireEvents(roomId, bot.userId).filter((e) => e.type !== "m.room.member");
  assert.ok(wire.length >= 3, `the bot's verification messages reached the room (${wire.length})`);
  assert.deepEqual(wire.filter((e) => e.type !== "m.room.encrypted").map((e) => e.type), [], "nothing in plaintext");
}

async function assertMutualTrust(bot: NioBot, human: EncryptedHuman): Promise<void> {
  const crypto = human.client.getCrypto()!;
  await waitUntil(async () => (await crypto.getUserVerificationStatus(bot.userId)).isCrossSigningVerified(), "the person's client to show the bot's user verified");
  const device = await crypto.getDeviceVerificationStatus(bot.userId, bot.deviceId!);
  assert.equal(device?.crossSigningVerified, true, "the person's client shows the bot's device verified by its cross-signing identity");
  await waitUntil(() => bot.crypto.isVerified(human.userId), "the bot to show the person's identity verified");
  assert.equal(await bot.crypto.isVerified(human.userId, human.account.deviceId), true, "the bot shows the person's device verified");
}

describe("SAS verification", () => {
  for (const transport of ["in-room", "to-device"] as const) {
    test(`the person verifies the bot (${transport}): same emoji on both sides, and each side trusts the other afterwards`, async () => {
      const { bot, human, presented, roomId } = await started();
      try {
        assert.equal(await bot.crypto.isVerified(human.userId), false, "not verified before");
        const crypto = human.client.getCrypto()!;
        const t0 = performance.now();
        const request = transport === "in-room" ? await crypto.requestVerificationDM(bot.userId, roomId) : await crypto.requestDeviceVerification(bot.userId, bot.deviceId!);
        await waitUntil(() => request.phase === VerificationPhase.Ready || request.phase === VerificationPhase.Cancelled, "the bot to accept the request");
        assert.equal(request.phase, VerificationPhase.Ready, "the bot accepted");
        await request.startVerification("m.sas.v1");
        const person = await personSas(request);
        await waitUntil(() => presented.length > 0, "verificationRequest");
        const verification = presented[0]!;
        assert.equal(verification.otherUserId, human.userId);
        assert.equal(verification.weStarted, false);
        assert.equal(verification.roomId !== undefined, transport === "in-room");
        const tSas = performance.now();
        await compareAndConfirm(verification, person);
        console.log(`verification (person -> bot, ${transport}): request to emoji ${Math.round(tSas - t0)} ms, confirm to done ${Math.round(performance.now() - tSas)} ms`);
        if (transport === "in-room") assertBotSentEncrypted(human, roomId, bot);
        await assertMutualTrust(bot, human);
      } finally {
        await bot.stop();
        human.stop();
      }
    });

    test(`the bot verifies the person (${transport}): same emoji on both sides, and each side trusts the other afterwards`, async () => {
      const { bot, human, presented, roomId } = await started();
      try {
        const received = new Promise<VerificationRequest>((resolve) => human.client.on(CryptoEvent.VerificationRequestReceived, resolve));
        let verification: Verification;
        if (transport === "in-room") {
          // Without a room or device: in the bot's DM with the person.
          verification = await bot.crypto.requestVerification(human.userId);
          assert.equal(verification.roomId, roomId);
        } else {
          verification = await bot.crypto.requestVerification(human.userId, human.account.deviceId);
          assert.equal(verification.roomId, undefined);
        }
        assert.equal(verification.weStarted, true);
        const request = await received;
        request.on(VerificationRequestEvent.Change, () => undefined);
        await request.accept();
        const person = await personSas(request);
        const emoji = await compareAndConfirm(verification, person);
        if (transport === "in-room") assertBotSentEncrypted(human, roomId, bot);
        assert.equal(presented[0], verification, "verificationRequest fired for the bot's own request too");
        assert.equal(emoji.length, 7);
        await assertMutualTrust(bot, human);
      } finally {
        await bot.stop();
        human.stop();
      }
    });
  }

  test("autoVerify: the bot confirms a listed user's verification by itself", async () => {
    const { bot, human, presented } = await started({ autoVerify: true });
    try {
      const request = await human.client.getCrypto()!.requestDeviceVerification(bot.userId, bot.deviceId!);
      await waitUntil(() => request.phase === VerificationPhase.Ready, "the bot to accept the request");
      await request.startVerification("m.sas.v1");
      const person = await personSas(request);
      await waitUntil(() => presented.length > 0, "verificationRequest");
      const { emoji } = await presented[0]!.shortAuthString(AbortSignal.timeout(30_000));
      assert.deepEqual(emoji?.map((e) => e.symbol), person.emoji);
      // Only the person confirms; the listener above never calls confirm().
      await person.confirm();
      await presented[0]!.done(AbortSignal.timeout(30_000));
      await assertMutualTrust(bot, human);
    } finally {
      await bot.stop();
      human.stop();
    }
  });

  test("a to-device request from a user the bot does not track yet (no shared room) is answered, not dropped", async () => {
    // The crypto machine ignores a request from a device it does not know: the bot must fetch the
    // sender's devices before it feeds the batch, as it does when the request comes with the join.
    const human = await EncryptedHuman.create("person");
    await crossSign(human);
    // The bot stays invited (no auto-join): the person's client tracks the bot's devices, the bot not theirs.
    const { bot, account } = await newBot({ storePath: tempStorePath(), autoJoin: false });
    bot.on("verificationRequest", () => undefined);
    await bot.start({ password: account.password });
    try {
      await human.createEncryptedDm(bot.userId);
      const crypto = human.client.getCrypto()!;
      await waitUntil(async () => (await crypto.getUserDeviceInfo([bot.userId])).get(bot.userId)?.has(bot.deviceId!) === true, "the person's client to know the bot's device");
      const request = await crypto.requestDeviceVerification(bot.userId, bot.deviceId!);
      await waitUntil(() => request.phase === VerificationPhase.Ready || request.phase === VerificationPhase.Cancelled, "the bot to accept the request");
      assert.equal(request.phase, VerificationPhase.Ready, "the bot accepted");
    } finally {
      await bot.stop();
      human.stop();
    }
  });

  test("without a verificationRequest listener or autoVerify, a request is declined at once", async () => {
    const { bot, human } = await started({ listen: false });
    try {
      const request = await human.client.getCrypto()!.requestDeviceVerification(bot.userId, bot.deviceId!);
      await waitUntil(() => request.phase === VerificationPhase.Cancelled || request.phase === VerificationPhase.Ready, "an answer");
      assert.equal(request.phase, VerificationPhase.Cancelled);
      assert.equal(request.cancellationCode, "m.user");
      assert.equal(await bot.crypto.isVerified(human.userId), false);
    } finally {
      await bot.stop();
      human.stop();
    }
  });

  test("the owner verifies the bot's device from their own client: the device ends signed by the account's self-signing key", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account, { backup: false });
    // crossSigning off: the bot does not sign itself, so the signature can only come from the verification.
    const { bot } = await newBot({ storePath: tempStorePath(), crossSigning: false }, account);
    const presented: Verification[] = [];
    bot.on("verificationRequest", (v) => void presented.push(v));
    const hs = await homeserver();
    const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken });
    try {
      await bot.start({ password: account.password });
      const signed = async (): Promise<boolean> => {
        const server = await queryServerIdentity(api, account.userId, bot.deviceId!);
        return server.selfSigning !== undefined && server.deviceSignatures.includes(`ed25519:${server.selfSigning}`);
      };
      assert.equal(await signed(), false, "not signed before");
      const crypto = owner.client.getCrypto()!;
      await waitUntil(async () => (await crypto.getUserDeviceInfo([account.userId], true)).get(account.userId)?.has(bot.deviceId!) === true, "the owner's client to know the bot's device");
      const request = await crypto.requestDeviceVerification(account.userId, bot.deviceId!);
      await waitUntil(() => request.phase === VerificationPhase.Ready || request.phase === VerificationPhase.Cancelled, "the bot to accept");
      assert.equal(request.phase, VerificationPhase.Ready);
      await request.startVerification("m.sas.v1");
      const person = await personSas(request);
      await waitUntil(() => presented.length > 0, "verificationRequest");
      assert.equal(presented[0]!.isSelfVerification, true);
      await compareAndConfirm(presented[0]!, person);
      await waitUntil(signed, "the server to show the bot's device signed by the self-signing key");
      const status = await crypto.getDeviceVerificationStatus(account.userId, bot.deviceId!);
      assert.equal(status?.crossSigningVerified, true, "the owner's client sees the device cross-signed");
    } finally {
      await bot.stop();
      owner.stop();
    }
  });
});
