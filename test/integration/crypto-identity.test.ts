/**
 * The bot's cross-signing identity against Synapse (issue 13): the owner's
 * client (matrix-js-sdk) sets the account up and the bot joins with the
 * recovery key; a fresh account gets an identity from the bot; an identity
 * without a key, or with a wrong one, is refused and left untouched. A human
 * whose client excludes insecure devices (MSC4153) talks to the bot.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { describe, test } from "node:test";
import { OnlySignedDevicesIsolationMode } from "matrix-js-sdk/lib/crypto-api/index.js";
import { MatrixApi } from "../../src/api/client.js";
import { endpoints } from "../../src/api/endpoints.js";
import { IdentityError } from "../../src/crypto/index.js";
import { queryServerIdentity } from "../../src/crypto/identity.js";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { homeserver, newBot, newUser, tempStorePath } from "../helpers/matrix.js";
import { OwnerClient } from "../helpers/owner-client.js";

async function strictHuman(): Promise<EncryptedHuman> {
  const human = await EncryptedHuman.create();
  const crypto = human.client.getCrypto()!;
  // A client in this mode only encrypts once its own account is cross-signed.
  await crypto.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: human.userId }, password: human.account.password });
    },
  });
  crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
  return human;
}

/** The account's cross-signing keys and secret storage pointer, as the server has them. */
async function serverState(account: RegisteredUser): Promise<{ master?: string; selfSigning?: string; defaultKey: unknown }> {
  const hs = await homeserver();
  const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken });
  const keys = await queryServerIdentity(api, account.userId, account.deviceId);
  const defaultKey = await api.call(endpoints.getAccountData, { path: { userId: account.userId, type: "m.secret_storage.default_key" } }).catch(() => undefined);
  return { master: keys.master, selfSigning: keys.selfSigning, defaultKey };
}

/** A strict human DMs the bot `!ping` and must get an encrypted answer; returns the bot device as the human sees it. */
async function pingFromStrictHuman(human: EncryptedHuman, botUserId: string, botDeviceId: string): Promise<void> {
  const roomId = await human.createEncryptedDm(botUserId);
  await human.waitForJoin(roomId, botUserId);
  await human.send(roomId, "!ping");
  const reply = await human.waitForMessage(roomId, botUserId, (body) => body.includes("pong"), 30_000);
  assert.equal(reply.getWireType(), "m.room.encrypted");
  const status = await human.client.getCrypto()!.getDeviceVerificationStatus(botUserId, botDeviceId);
  assert.equal(status?.signedByOwner, true, "the human sees the bot's device signed by its owner");
}

describe("cross-signing identity", () => {
  test("owner first: the owner's client sets the account up, the bot joins with the recovery key and answers a strict human", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account);
    const human = await strictHuman();
    const { bot } = await newBot({ storePath: tempStorePath(), recoveryKey: owner.recoveryKey }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    try {
      const before = await owner.masterKey();
      assert.ok(before);
      const started = performance.now();
      await bot.start({ password: account.password });
      const identity = bot.crypto.identity!;
      assert.equal(identity.outcome, "recovered");
      assert.equal(identity.signedNow, true);
      assert.equal(identity.masterKey, before, "the master key is unchanged");
      console.log(`# start to signed device (recovery key): ${identity.elapsedMs} ms (whole start ${Math.round(performance.now() - started)} ms)`);
      const server = await queryServerIdentity(bot.api, bot.userId, bot.deviceId!);
      assert.ok(server.deviceSignatures.includes(`ed25519:${server.selfSigning}`), "/keys/query shows the device signed by the self-signing key");
      await pingFromStrictHuman(human, bot.userId, bot.deviceId!);
      assert.equal(await owner.masterKey(), before);
    } finally {
      await bot.stop();
      human.stop();
      owner.stop();
    }
  });

  test("a restart with the keys in the store signs nothing again; the owner's passphrase also works as the recovery key", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account, { backup: false, passphrase: "correct horse battery staple" });
    const storePath = tempStorePath();
    try {
      const first = (await newBot({ storePath, recoveryKey: "correct horse battery staple" }, account)).bot;
      await first.start({ password: account.password });
      assert.equal(first.crypto.identity?.outcome, "recovered");
      await first.stop();
      const again = (await newBot({ storePath }, account)).bot;
      await again.start();
      assert.equal(again.crypto.identity?.outcome, "stored");
      assert.equal(again.crypto.identity?.signedNow, false);
      assert.equal(again.crypto.identity?.masterKey, await owner.masterKey());
      await again.stop();
    } finally {
      owner.stop();
    }
  });

  test("refusals: an identity without a key, and a wrong recovery key, stop the start and change nothing on the server", async () => {
    const account = await newUser("bot");
    const owner = await OwnerClient.setUp(account, { backup: false });
    try {
      const before = await serverState(account);
      assert.ok(before.master);

      const keyless = (await newBot({ storePath: tempStorePath() }, account)).bot;
      await assert.rejects(keyless.start({ password: account.password }), (error: unknown) => {
        assert.ok(error instanceof IdentityError);
        assert.equal(error.check, "locked");
        assert.match(error.message, /recoveryKey/);
        assert.match(error.message, /resetIdentity: true/);
        return true;
      });
      assert.equal(keyless.running, false);

      const otherKey = (await OwnerClient.setUp(await newUser("other"), { backup: false }));
      const wrongKey = otherKey.recoveryKey;
      otherKey.stop();
      const wrong = (await newBot({ storePath: tempStorePath(), recoveryKey: wrongKey }, account)).bot;
      await assert.rejects(wrong.start({ password: account.password }), (error: unknown) => {
        assert.ok(error instanceof IdentityError);
        assert.equal(error.check, "key-mac");
        assert.match(error.message, /MAC check failed/);
        assert.ok(!error.message.includes(wrongKey.slice(0, 9)), "the key is not in the message");
        return true;
      });

      const typo = (await newBot({ storePath: tempStorePath(), recoveryKey: owner.recoveryKey.slice(0, -1) + (owner.recoveryKey.endsWith("a") ? "b" : "a") }, account)).bot;
      await assert.rejects(typo.start({ password: account.password }), (error: unknown) => error instanceof IdentityError && error.check === "key-format" && /parity/.test(error.message));

      assert.deepEqual(await serverState(account), before, "master key, self-signing key and secret storage are unchanged");
    } finally {
      owner.stop();
    }
  });

  test("fresh account: the bot creates the identity and a recovery key; a second deployment joins it with that key", async () => {
    const account = await newUser("bot");
    const keyFile = tempStorePath("recovery-key.txt");
    let shown = "";
    const first = (await newBot({ storePath: tempStorePath(), recoveryKeyFile: keyFile, showRecoveryKey: (key: string) => (shown = key) }, account)).bot;
    await first.start({ password: account.password });
    const master = first.crypto.identity?.masterKey;
    assert.equal(first.crypto.identity?.outcome, "created");
    await first.stop();
    const written = readFileSync(keyFile, "utf8").trim();
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(written, shown, "the key shown once is the key in the file");
    assert.match(written, /^(\w{4} ){11}\w{4}$/);

    const human = await strictHuman();
    const second = (await newBot({ storePath: tempStorePath(), recoveryKey: written }, account)).bot;
    second.command("ping", (ctx) => ctx.respond("pong"));
    try {
      await second.start({ password: account.password });
      assert.equal(second.crypto.identity?.outcome, "recovered");
      assert.equal(second.crypto.identity?.masterKey, master, "the same identity");
      await pingFromStrictHuman(human, second.userId, second.deviceId!);
    } finally {
      await second.stop();
      human.stop();
    }
  });
});
