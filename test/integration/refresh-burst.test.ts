/**
 * Concurrent requests during a refresh, against a Synapse of its own with
 * 10 s access tokens: ten sends, an upload and a long poll share one refresh,
 * whether it happens ahead of expiry or after the server answered 401; every
 * send arrives once, and a repeated send keeps its transaction id. Also the
 * CLI with expiring tokens: `niobot login` saves the refresh token, `whoami`
 * shows it, the bot writes refreshed tokens back to the env file, and a stale
 * token given again at start is recognised.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import { matrixRefresher } from "../../src/auth/matrix.js";
import { SessionAuth } from "../../src/auth/session.js";
import { establishSession } from "../../src/bot/login.js";
import { startDevHomeserver, type DevHomeserver } from "../../src/devserver/index.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { parseEnv } from "../../src/auth/envfile.js";

let hs: DevHomeserver;

before(async () => {
  hs = await startDevHomeserver({ tokenLifetimes: { refreshableAccessToken: "10s" }, startTimeoutMs: 180_000 });
  process.env.MATRIX_TEST_HOMESERVER = hs.baseUrl;
  process.env.MATRIX_TEST_REGISTRATION_SECRET = hs.registrationSecret;
  process.env.MATRIX_TEST_SERVER_NAME = hs.serverName;
});
after(async () => {
  await hs?.stop();
});

const helpers = () => import("../helpers/matrix.js");

/** A fetch that records every request; `/refresh` answers are held back a little, so the burst meets the refresh in flight. */
function recordingFetch(delayRefreshMs: number): { fetch: FetchLike; log: { method: string; path: string; status: number }[] } {
  const log: { method: string; path: string; status: number }[] = [];
  return {
    log,
    fetch: async (input, init) => {
      const path = new URL(input).pathname;
      if (path.endsWith("/refresh")) await new Promise((r) => setTimeout(r, delayRefreshMs));
      const response = await fetch(input, init);
      log.push({ method: init.method ?? "GET", path, status: response.status });
      return response;
    },
  };
}

const refreshes = (log: { path: string; status: number }[]) => log.filter((e) => e.path.endsWith("/refresh") && e.status === 200).length;

describe("one refresh for many requests (Synapse, 10 s access tokens)", () => {
  for (const path of ["ahead of expiry", "after a 401"] as const) {
    test(`concurrent sends, an upload and a long poll during a refresh (${path}): one refresh, every send arrives once`, async () => {
      const { newUser, newTestUser } = await helpers();
      const account = await newUser("burst");
      const human = await newTestUser();
      const rec = recordingFetch(300);
      const api = new MatrixApi({ baseUrl: hs.baseUrl, fetch: rec.fetch });
      const store = new MemoryStore();
      await establishSession(api, store, { homeserver: hs.baseUrl, userId: account.userId, deviceName: "burst", credentials: { password: account.password } }, silentLogger);
      const roomId = await human.createRoom([account.userId]);
      await api.rooms.join(roomId);
      // Joining may already have refreshed (a loaded machine is slow): take the pair as it is now.
      const login = (await store.getLogin())!;
      if (path === "after a 401") {
        // Without a known expiry nothing refreshes early: every request meets the expired token.
        const refresh = matrixRefresher(api);
        api.http.setAuth(new SessionAuth({
          tokens: { accessToken: login.accessToken, refreshToken: login.refreshToken },
          refresh: async (r, signal) => ({ ...(await refresh(r, signal)), expiresAt: undefined }),
          persist: (t) => store.setLogin({ ...login, ...t }),
          log: silentLogger,
        }));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, login.expiresAt! - Date.now() + 500)));
      rec.log.length = 0;
      const bodies = Array.from({ length: 10 }, (_, i) => `burst ${i}`);
      await Promise.all([
        ...bodies.map((body) => api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body })),
        api.media.upload(new TextEncoder().encode("hello"), "text/plain", "hello.txt"),
        api.sync.sync({ timeout: 1000 }),
      ]);
      assert.equal(refreshes(rec.log), 1, "exactly one refresh");
      const puts = rec.log.filter((e) => e.method === "PUT");
      if (path === "after a 401") {
        const rejected = puts.filter((e) => e.status === 401);
        assert.equal(rejected.length, 10, "every send met the expired token");
        for (const r of rejected) assert.ok(puts.some((e) => e.path === r.path && e.status === 200), "repeated with the same transaction id");
        assert.ok(rec.log.some((e) => e.path.endsWith("/upload") && e.status === 401) && rec.log.some((e) => e.path.endsWith("/upload") && e.status === 200));
        assert.ok(rec.log.some((e) => e.path.endsWith("/sync") && e.status === 401) && rec.log.some((e) => e.path.endsWith("/sync") && e.status === 200));
      } else assert.equal(puts.filter((e) => e.status === 401).length, 0, "nothing was sent with the old token");
      assert.equal((await store.getLogin())?.accessToken !== login.accessToken, true, "the new pair was persisted");
      for (const body of bodies) await human.waitForEvent((e) => e.content.body === body, 20_000);
      await human.syncOnce();
      for (const body of bodies) assert.equal(human.seen.filter((e) => e.content.body === body).length, 1, `${body} arrived once`);
      console.log(`# ${path}: ${rec.log.length} requests, ${refreshes(rec.log)} refresh`);
    });
  }
});

describe("niobot login and whoami with expiring tokens", () => {
  test("login saves the refresh token; whoami shows it; the bot writes refreshed tokens back; a stale token at start is recognised", async () => {
    const { newUser, newBot, tempStorePath } = await helpers();
    const { runCli, tempDir } = await import("../helpers/cli.js");
    const account = await newUser("cli");
    const dir = tempDir();
    try {
      const envFile = join(dir.dir, ".env");
      const login = await runCli(["login", "--homeserver", hs.baseUrl, "--user", account.userId, "--password-stdin", "--env", envFile], { input: `${account.password}\n` });
      assert.equal(login.code, 0, login.stderr);
      const saved = parseEnv(readFileSync(envFile, "utf8"));
      assert.ok(saved.MATRIX_REFRESH_TOKEN?.startsWith("syr_"), "the refresh token was saved");
      const expiresAt = Date.parse(saved.MATRIX_TOKEN_EXPIRES_AT ?? "");
      assert.ok(expiresAt > Date.now() - 60_000 && expiresAt < Date.now() + 11_000, "the expiry was saved");
      assert.ok(!login.stdout.includes(saved.MATRIX_REFRESH_TOKEN!), "the refresh token is not shown");

      const who = await runCli(["whoami", "--env", envFile]);
      assert.equal(who.code, 0, who.stderr);
      assert.match(who.stdout, /token expires\s+\d{4}-/);
      assert.match(who.stdout, /refresh token\s+held/);

      const oauth = await runCli(["login", "--oauth", "--homeserver", hs.baseUrl, "--env", envFile]);
      assert.equal(oauth.code, 1);
      assert.match(oauth.stderr, /does not offer OAuth 2\.0/, "Synapse without an OAuth server has no auth_metadata");

      // The bot runs from the file, and keeps it current.
      const storePath = tempStorePath();
      const credentials = { accessToken: saved.MATRIX_ACCESS_TOKEN!, refreshToken: saved.MATRIX_REFRESH_TOKEN!, expiresAt };
      const first = await newBot({ storePath, envFile, encryption: false }, account);
      await first.bot.start(credentials);
      const deviceId = first.bot.deviceId;
      assert.equal(deviceId, saved.MATRIX_DEVICE_ID);
      const deadline = Date.now() + 40_000;
      let current = parseEnv(readFileSync(envFile, "utf8"));
      while (current.MATRIX_ACCESS_TOKEN === saved.MATRIX_ACCESS_TOKEN && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        current = parseEnv(readFileSync(envFile, "utf8"));
      }
      assert.notEqual(current.MATRIX_ACCESS_TOKEN, saved.MATRIX_ACCESS_TOKEN, "the refreshed token was written back");
      const stored = await first.bot.store.getLogin();
      assert.equal(current.MATRIX_REFRESH_TOKEN, stored?.refreshToken, "file and store agree");
      await first.bot.stop();

      // Started again with the original, by now spent, pair: the store's successor is used.
      const rec: string[] = [];
      const second = await newBot({ storePath, encryption: false, fetch: (input, init) => (rec.push(new URL(input).pathname), fetch(input, init)) }, account);
      await second.bot.start(credentials);
      assert.equal(second.bot.deviceId, deviceId, "same device");
      assert.equal(rec.filter((p) => p.endsWith("/login")).length, 0);
      await second.bot.stop();
    } finally {
      dir.remove();
    }
  });
});
