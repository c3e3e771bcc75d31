/**
 * Soft logout against a Synapse of its own whose refresh tokens expire (8 s)
 * before the access tokens (20 s): the refresh is refused, then the expired
 * access token is answered 401 `M_UNKNOWN_TOKEN` with `soft_logout: true`.
 * With a password the bot logs in again to the same device and keeps
 * decrypting; without one it stops with one clear error.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import { SessionLostError } from "../../src/auth/tokens.js";
import { startDevHomeserver, type DevHomeserver } from "../../src/devserver/index.js";

let hs: DevHomeserver;

before(async () => {
  hs = await startDevHomeserver({ tokenLifetimes: { refreshableAccessToken: "20s", refreshToken: "8s" }, startTimeoutMs: 180_000 });
  process.env.MATRIX_TEST_HOMESERVER = hs.baseUrl;
  process.env.MATRIX_TEST_REGISTRATION_SECRET = hs.registrationSecret;
  process.env.MATRIX_TEST_SERVER_NAME = hs.serverName;
});
after(async () => {
  await hs?.stop();
});

const helpers = () => import("../helpers/matrix.js");

function recordingFetch(): { fetch: FetchLike; log: { method: string; path: string; status: number; body: string }[] } {
  const log: { method: string; path: string; status: number; body: string }[] = [];
  return {
    log,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      const path = new URL(input).pathname;
      const body = response.status === 401 || path.endsWith("/refresh") ? await response.clone().text() : "";
      log.push({ method: init.method ?? "GET", path, status: response.status, body });
      return response;
    },
  };
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("soft logout (Synapse: refresh tokens expire before access tokens)", () => {
  test("with a password: logs in again to the same device, and an encrypted DM still works", async () => {
    const { newBot, tempStorePath } = await helpers();
    const { EncryptedHuman } = await import("../helpers/e2ee-human.js");
    const rec = recordingFetch();
    const { bot, account } = await newBot({ storePath: tempStorePath(), fetch: rec.fetch, syncTimeoutMs: 5_000 });
    bot.command("ping", { args: "<n:int>" }, (ctx, { n }) => ctx.respond(`pong ${n}`));
    await bot.start({ password: account.password });
    const human = await EncryptedHuman.create();
    const deviceId = bot.deviceId;
    const identity = bot.crypto.identityKeys.ed25519;
    try {
      const dm = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(dm, bot.userId);
      await human.send(dm, "!ping 1");
      await human.waitForMessage(dm, bot.userId, (body) => body === "pong 1", 30_000);
      const logins = () => rec.log.filter((e) => e.path.endsWith("/login") && e.status === 200).length;
      await waitUntil(() => logins() >= 2, 60_000, "a second login");
      const refused = rec.log.find((e) => e.path.endsWith("/refresh") && e.status >= 400);
      assert.ok(refused && refused.status >= 400, "the refresh was refused first");
      const soft = rec.log.find((e) => e.status === 401);
      assert.ok(soft, "the expired access token was rejected");
      assert.equal((JSON.parse(soft.body) as { soft_logout?: boolean }).soft_logout, true, "Synapse said soft_logout: true");
      assert.equal(bot.deviceId, deviceId, "same device");
      assert.equal((await bot.store.getLogin())?.deviceId, deviceId);
      assert.equal(bot.crypto.identityKeys.ed25519, identity, "same identity keys");
      await human.send(dm, "!ping 2");
      await human.waitForMessage(dm, bot.userId, (body) => body === "pong 2", 30_000);
      assert.equal(bot.running, true);
    } finally {
      human.stop();
      await bot.stop();
    }
  });

  test("without a password: one clear error, and the bot stops", async () => {
    const { newBot, newUser } = await helpers();
    const account = await newUser("nopw");
    const login = await new MatrixApi({ baseUrl: hs.baseUrl }).account.loginWithPassword(account.userId, account.password, { refreshToken: true });
    assert.ok(login.refresh_token && login.expires_in_ms);
    const { bot } = await newBot({ encryption: false, syncTimeoutMs: 5_000 }, account);
    const errors: unknown[] = [];
    bot.on("error", (error) => void errors.push(error));
    const stopped = new Promise<void>((resolve) => bot.once("stopped", () => resolve()));
    await bot.start({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in_ms });
    await stopped;
    assert.equal(bot.running, false);
    const lost = errors.filter((e) => e instanceof SessionLostError);
    assert.equal(lost.length, 1, `one session error: ${errors.map(String).join("; ")}`);
    const error = lost[0] as SessionLostError;
    assert.equal(error.reason, "no-password");
    assert.match(error.message, /expired and could not be renewed, and no password/);
    assert.match(error.message, /niobot login/);
    assert.ok(!/sy[rt]_/.test(error.message), "no token in the message");
  });
});
