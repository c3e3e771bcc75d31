/**
 * Expiring access tokens against a Synapse of its own with a 20 s
 * `refreshable_access_token_lifetime`: a bot keeps answering across several
 * lifetimes (encrypted DM included), and a crash between refresh and persist
 * strands nothing. Concurrent requests during a refresh: refresh-burst.test.ts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import { startDevHomeserver, type DevHomeserver } from "../../src/devserver/index.js";
import { SqliteStore } from "../../src/storage/sqlite.js";

const LIFETIME_MS = 20_000;
let hs: DevHomeserver;

before(async () => {
  hs = await startDevHomeserver({ tokenLifetimes: { refreshableAccessToken: `${LIFETIME_MS / 1000}s` }, startTimeoutMs: 180_000 });
  // The helpers below (accounts, the encrypted human) use this server, not the shared one.
  process.env.MATRIX_TEST_HOMESERVER = hs.baseUrl;
  process.env.MATRIX_TEST_REGISTRATION_SECRET = hs.registrationSecret;
  process.env.MATRIX_TEST_SERVER_NAME = hs.serverName;
});
after(async () => {
  await hs?.stop();
});

const helpers = () => import("../helpers/matrix.js");
const e2ee = () => import("../helpers/e2ee-human.js");

/** A fetch that records every request's method, path and status. */
function recordingFetch(): { fetch: FetchLike; log: { method: string; path: string; status: number }[] } {
  const log: { method: string; path: string; status: number }[] = [];
  return {
    log,
    fetch: async (input, init) => {
      const path = new URL(input).pathname;
      const response = await fetch(input, init);
      log.push({ method: init.method ?? "GET", path, status: response.status });
      return response;
    },
  };
}

const refreshes = (log: { path: string; status: number }[]) => log.filter((e) => e.path.endsWith("/refresh") && e.status === 200).length;

describe("refresh tokens (Synapse, 20 s access tokens)", () => {
  test("a bot answers !ping across several token lifetimes, in a plain room and an encrypted DM", async () => {
    const { newBot, newTestUser, tempStorePath } = await helpers();
    const { EncryptedHuman } = await e2ee();
    const rec = recordingFetch();
    const storePath = tempStorePath();
    const { bot, account } = await newBot({ storePath, fetch: rec.fetch });
    bot.command("ping", { args: "<n:int>" }, (ctx, { n }) => ctx.respond(`pong ${n}`));
    await bot.start({ password: account.password });
    const human = await EncryptedHuman.create();
    const plain = await newTestUser();
    const deviceId = bot.deviceId;
    try {
      const login = await bot.store.getLogin();
      assert.ok(login?.refreshToken, "the password login asked for and stored a refresh token");
      assert.ok(login.expiresAt !== undefined && login.expiresAt - Date.now() <= LIFETIME_MS, "the expiry is stored");
      const dm = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(dm, bot.userId);
      const room = await plain.createRoom([bot.userId]);
      const started = Date.now();
      let rounds = 0;
      // At least five rounds, one every ~13 s, and on until the pings straddle three token lifetimes.
      for (; rounds < 5 || Date.now() - started <= 3 * LIFETIME_MS; rounds++) {
        await human.send(dm, `!ping ${rounds}`);
        await human.waitForMessage(dm, bot.userId, (body) => body === `pong ${rounds}`, 30_000);
        await plain.send(room, `!ping ${rounds + 100}`);
        await plain.waitForEvent((e) => e.sender === bot.userId && e.room_id === room && e.content.body === `pong ${rounds + 100}`, 30_000);
        if (rounds < 4 || Date.now() - started <= 3 * LIFETIME_MS) await new Promise((r) => setTimeout(r, 13_000));
      }
      const elapsed = Date.now() - started;
      // Refreshes happen when a request needs a token (a 30 s long poll outlives a 20 s token),
      // so their number depends on timing; two or more means at least three tokens served the bot.
      assert.ok(refreshes(rec.log) >= 2, `refreshed ${refreshes(rec.log)} times`);
      assert.equal(rec.log.filter((e) => e.path.endsWith("/login")).length, 1, "never logged in again");
      assert.equal(bot.deviceId, deviceId, "the device was kept");
      assert.equal(bot.running, true);
      const rejected = rec.log.filter((e) => e.status === 401).length;
      console.log(`# ${rounds} rounds over ${elapsed} ms: ${refreshes(rec.log)} refreshes, ${rejected} requests answered 401 and repeated`);
      const stored = await bot.store.getLogin();
      assert.equal(stored?.deviceId, deviceId);
      assert.notEqual(stored?.refreshToken, login.refreshToken, "the rotated refresh token was stored");
    } finally {
      human.stop();
      await bot.stop();
    }
  });

  test("killed between refresh and persist: the restarted bot refreshes with the stored token, on the same device", async () => {
    const { newBot, newTestUser, newUser, tempStorePath } = await helpers();
    const account = await newUser("crash");
    const storePath = tempStorePath();
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/refresh-crash-bot.ts"], {
      env: { ...process.env, CRASH_HOMESERVER: hs.baseUrl, CRASH_USER_ID: account.userId, CRASH_PASSWORD: account.password, CRASH_STORE: storePath },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const exit = await new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
    assert.equal(exit, "SIGKILL", `the bot killed itself at the persist step; output: ${out}`);
    assert.match(out, /READY \S+\nCRASHING-BEFORE-PERSIST/);
    const deviceId = /READY (\S+)/.exec(out)?.[1];

    const check = new SqliteStore(storePath);
    await check.open();
    const before = await check.getLogin();
    await check.close();
    assert.equal(before?.deviceId, deviceId);
    assert.ok(before?.refreshToken, "the store still holds the pre-crash pair");

    // No password this time: the stored refresh token is the only way back in.
    const rec = recordingFetch();
    const { bot } = await newBot({ storePath, encryption: false, fetch: rec.fetch }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start();
    try {
      assert.equal(bot.deviceId, deviceId, "same device");
      assert.ok(refreshes(rec.log) >= 1, "the restarted bot refreshed with the stored refresh token");
      assert.equal(rec.log.filter((e) => e.path.endsWith("/login")).length, 0, "no login needed");
      const human = await newTestUser();
      const room = await human.createRoom([bot.userId]);
      await human.send(room, "!ping");
      await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "pong", 30_000);
      const after = await bot.store.getLogin();
      assert.notEqual(after?.refreshToken, before.refreshToken, "the new pair was persisted");
    } finally {
      await bot.stop();
    }
  });

});
