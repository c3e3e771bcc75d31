/**
 * `niobot crypto status` and `niobot crypto recovery-key` (issue 13), run as
 * a child process against the test homeserver: secret storage created by the
 * CLI, a key checked, then a bot creating its identity under that key, as
 * `status` shows it.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { queryServerIdentity } from "../../src/crypto/identity.js";
import { encodeRecoveryKey } from "../../src/crypto/recovery-key.js";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { homeserver, newBot, newUser, tempStorePath } from "../helpers/matrix.js";

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

async function envFileFor(account: RegisteredUser, extra = ""): Promise<string> {
  const hs = await homeserver();
  const t = tempDir();
  cleanups.push(t.remove);
  const file = join(t.dir, ".env");
  writeFileSync(file, `MATRIX_HOMESERVER=${hs.baseUrl}\nMATRIX_USER_ID=${account.userId}\nMATRIX_ACCESS_TOKEN=${account.accessToken}\n${extra}`, { mode: 0o600 });
  return file;
}

describe("niobot crypto", () => {
  test("recovery-key creates secret storage once and checks keys; status shows the identity the bot then creates under it", async () => {
    const account = await newUser("clicrypto");
    const env = await envFileFor(account, "MATRIX_TRUST=crossSigned\n");

    const empty = await runCli(["crypto", "status", "--env", env, "--json"]);
    assert.equal(empty.code, 0, empty.stderr);
    const before = JSON.parse(empty.stdout) as Record<string, unknown>;
    assert.equal(before.masterKey, null);
    assert.equal(before.deviceSigned, false);
    assert.equal(before.secretStorageKey, null);
    assert.equal(before.backupVersion, null);
    assert.equal(before.trust, "crossSigned");

    const created = await runCli(["crypto", "recovery-key", "--env", env]);
    assert.equal(created.code, 0, created.stderr);
    const recoveryKey = /RECOVERY KEY \(shown once\):\s+((?:\w{4} ){11}\w{4})/.exec(created.stdout)?.[1];
    assert.ok(recoveryKey, created.stdout);

    const again = await runCli(["crypto", "recovery-key", "--env", env]);
    assert.equal(again.code, 1, "an account with secret storage is not given a second one");
    assert.match(again.stderr, /already has secret storage/);

    const good = await runCli(["crypto", "recovery-key", "--check", "--env", env], { input: `${recoveryKey}\n` });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /opens secret storage key/);
    assert.ok(!good.stdout.includes(recoveryKey) && !good.stderr.includes(recoveryKey), "the key is not echoed");

    const wrongKey = encodeRecoveryKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    const wrong = await runCli(["crypto", "recovery-key", "--check", "--env", env], { env: { MATRIX_RECOVERY_KEY: wrongKey } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused \(key-mac\)/);
    assert.ok(!wrong.stderr.includes(wrongKey.slice(0, 9)), "the key is not in the message");
    const notAKey = await runCli(["crypto", "recovery-key", "--check", "--env", env], { env: { MATRIX_RECOVERY_KEY: "correct horse battery staple" } });
    assert.equal(notAKey.code, 1);
    assert.match(notAKey.stderr, /refused \(key-format\)/);

    // The bot creates its identity and stores it under the CLI's key.
    const { bot } = await newBot(
      {
        storePath: tempStorePath(),
        recoveryKey,
        authenticate: async () => ({ type: "m.login.password", identifier: { type: "m.id.user", user: account.userId }, password: account.password }),
      },
      account,
    );
    await bot.start({ accessToken: account.accessToken });
    let master: string | undefined;
    try {
      assert.equal(bot.crypto.identity?.outcome, "created");
      master = bot.crypto.identity?.masterKey;
    } finally {
      await bot.stop();
    }
    const hs = await homeserver();
    const server = await queryServerIdentity(new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken }), account.userId, account.deviceId);
    assert.equal(server.master, master);

    const after = await runCli(["crypto", "status", "--env", env, "--json"]);
    assert.equal(after.code, 0, after.stderr);
    const state = JSON.parse(after.stdout) as Record<string, unknown>;
    assert.equal(state.deviceId, account.deviceId);
    assert.equal(state.deviceSigned, true);
    assert.equal(state.masterKey, master);
    assert.equal(typeof state.secretStorageKey, "string");
    assert.equal(typeof state.backupVersion, "string", "the bot created a key backup version");
    assert.equal(typeof state.backupKeys, "number");

    const text = await runCli(["crypto", "status", "--env", env]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /device signed\s+yes/);
    assert.match(text.stdout, new RegExp(`identity \\(master key\\)\\s+${master!.replace(/[+/]/g, "\\$&")}`));

    // The key the CLI printed opens the storage the bot's secrets are in.
    const check = await runCli(["crypto", "recovery-key", "--check", "--env", env], { env: { MATRIX_RECOVERY_KEY: recoveryKey } });
    assert.equal(check.code, 0, check.stderr);
  });

  test("reset-identity: refused without confirmation; with it, a new identity and recovery key that a new bot joins", async () => {
    const account = await newUser("clireset");
    const env = await envFileFor(account);
    const authenticate = async (): Promise<Record<string, unknown>> => ({ type: "m.login.password", identifier: { type: "m.id.user", user: account.userId }, password: account.password });
    let oldKey = "";
    const first = (await newBot({ storePath: tempStorePath(), authenticate, showRecoveryKey: (key: string) => (oldKey = key) }, account)).bot;
    await first.start({ accessToken: account.accessToken });
    const oldMaster = first.crypto.identity?.masterKey;
    await first.stop();
    assert.ok(oldMaster && oldKey);
    const hs = await homeserver();
    const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken });
    const masterNow = async (): Promise<string | undefined> => (await queryServerIdentity(api, account.userId, account.deviceId)).master;

    const refused = await runCli(["crypto", "reset-identity", "--env", env], { input: "@someone:else\n" });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not confirmed/);
    const wrongPassword = await runCli(["crypto", "reset-identity", "--env", env, "--yes"], { input: "not the password\n" });
    assert.equal(wrongPassword.code, 1);
    assert.match(wrongPassword.stderr, /wrong password/);
    assert.equal(await masterNow(), oldMaster, "nothing changed");

    const reset = await runCli(["crypto", "reset-identity", "--env", env], { input: `${account.userId}\n${account.password}\n` });
    assert.equal(reset.code, 0, reset.stderr);
    assert.ok(!reset.stdout.includes(account.password) && !reset.stderr.includes(account.password), "the password is never echoed");
    const newKey = /RECOVERY KEY \(shown once\):\s+((?:\w{4} ){11}\w{4})/.exec(reset.stdout)?.[1];
    assert.ok(newKey, reset.stdout);
    const newMaster = await masterNow();
    assert.ok(newMaster && newMaster !== oldMaster, "a new master key");
    assert.ok(reset.stdout.includes(newMaster));
    const devices = (await api.http.request<{ devices: Array<{ display_name?: string }> }>({ method: "GET", path: "/_matrix/client/v3/devices" })).devices;
    assert.ok(!devices.some((d) => d.display_name === "niobot crypto reset-identity"), "the reset's own device is logged out");

    const old = await runCli(["crypto", "recovery-key", "--check", "--env", env], { env: { MATRIX_RECOVERY_KEY: oldKey } });
    assert.equal(old.code, 1);
    assert.match(old.stderr, /key-mac/);

    const second = (await newBot({ storePath: tempStorePath(), recoveryKey: newKey }, account)).bot;
    await second.start({ password: account.password });
    try {
      assert.equal(second.crypto.identity?.outcome, "recovered");
      assert.equal(second.crypto.identity?.masterKey, newMaster);
    } finally {
      await second.stop();
    }
  });

  test("reset-identity, then the bot restarts on its old crypto store: it notices the stored keys are the old identity's and joins the new one", async () => {
    const account = await newUser("clioldstore");
    const env = await envFileFor(account);
    const storePath = tempStorePath();
    const authenticate = async (): Promise<Record<string, unknown>> => ({ type: "m.login.password", identifier: { type: "m.id.user", user: account.userId }, password: account.password });
    const first = (await newBot({ storePath, authenticate }, account)).bot;
    await first.start({ accessToken: account.accessToken });
    const oldMaster = first.crypto.identity?.masterKey;
    await first.stop();

    const reset = await runCli(["crypto", "reset-identity", "--env", env, "--yes"], { input: `${account.password}\n` });
    assert.equal(reset.code, 0, reset.stderr);
    const newKey = /RECOVERY KEY \(shown once\):\s+((?:\w{4} ){11}\w{4})/.exec(reset.stdout)?.[1];
    assert.ok(newKey, reset.stdout);

    // Without the new recovery key: the clear refusal that names the ways out, not a failed check.
    const locked = (await newBot({ storePath }, account)).bot;
    await assert.rejects(locked.start({ accessToken: account.accessToken }), (error: Error & { check?: string }) => {
      assert.equal(error.check, "locked", error.message);
      assert.match(error.message, /holds the keys of an earlier identity/, "it says why the stored keys do not count");
      return true;
    });
    await locked.stop().catch(() => undefined);

    // With it: the same store, the same device, the new identity.
    const again = (await newBot({ storePath, recoveryKey: newKey }, account)).bot;
    await again.start({ accessToken: account.accessToken });
    try {
      assert.equal(again.crypto.identity?.outcome, "recovered");
      assert.notEqual(again.crypto.identity?.masterKey, oldMaster);
      assert.equal(again.deviceId, account.deviceId, "the same device");
      const hs = await homeserver();
      const server = await queryServerIdentity(new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken }), account.userId, account.deviceId);
      assert.equal(server.master, again.crypto.identity?.masterKey);
      assert.ok(server.deviceSignatures.includes(`ed25519:${server.selfSigning}`), "the device is signed by the new self-signing key");
    } finally {
      await again.stop();
    }
  });

  test("usage errors exit 2; a missing session exits 1", async () => {
    const help = await runCli(["crypto", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /recovery-key/);
    const none = await runCli(["crypto"]);
    assert.equal(none.code, 2);
    const unknown = await runCli(["crypto", "frobnicate"]);
    assert.equal(unknown.code, 2);
    const misplaced = await runCli(["crypto", "status", "--check"]);
    assert.equal(misplaced.code, 2);
    const t = tempDir();
    cleanups.push(t.remove);
    const noSession = await runCli(["crypto", "status", "--env", join(t.dir, ".env")]);
    assert.equal(noSession.code, 1);
    assert.match(noSession.stderr, /niobot login/);
  });
});
