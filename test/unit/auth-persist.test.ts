/**
 * Where a renewed pair goes: the store, then the env file, and the file only
 * while it still holds this session; and how the env file is read back.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { tokenFingerprint, tokenPersister } from "../../src/auth/persist.js";
import { loadMatrixEnv, parseEnv, parseExpiry } from "../../src/auth/envfile.js";
import { MemoryStore } from "../../src/storage/memory.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-persist-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = { userId: "@bot:hs", deviceId: "DEV", homeserver: "https://hs" };

describe("tokenPersister", () => {
  test("writes the store, then the env file that holds the session, keeping other keys", async () => {
    const file = join(dir, "a.env");
    writeFileSync(file, "# mine\nBOT_PREFIX=?\nMATRIX_ACCESS_TOKEN=A1\nMATRIX_REFRESH_TOKEN=R1\n", { mode: 0o644 });
    const store = new MemoryStore();
    const persist = tokenPersister({ store, login: base, envFile: file }, { accessToken: "A1", refreshToken: "R1" });
    await persist({ accessToken: "A2", refreshToken: "R2", expiresAt: Date.parse("2030-01-01T00:00:00Z") });
    assert.deepEqual(await store.getLogin(), { ...base, accessToken: "A2", refreshToken: "R2", expiresAt: Date.parse("2030-01-01T00:00:00Z") });
    const env = parseEnv(readFileSync(file, "utf8"));
    assert.equal(env.MATRIX_ACCESS_TOKEN, "A2");
    assert.equal(env.MATRIX_REFRESH_TOKEN, "R2");
    assert.equal(env.MATRIX_TOKEN_EXPIRES_AT, "2030-01-01T00:00:00.000Z");
    assert.equal(env.BOT_PREFIX, "?");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await persist({ accessToken: "A3", refreshToken: "R3" });
    assert.equal(parseEnv(readFileSync(file, "utf8")).MATRIX_ACCESS_TOKEN, "A3", "follows its own previous write");
  });

  test("leaves an env file alone that was since given another login", async () => {
    const file = join(dir, "b.env");
    writeFileSync(file, "MATRIX_ACCESS_TOKEN=someone-else\n");
    const store = new MemoryStore();
    await tokenPersister({ store, login: base, envFile: file }, { accessToken: "A1" })({ accessToken: "A2" });
    assert.equal(readFileSync(file, "utf8"), "MATRIX_ACCESS_TOKEN=someone-else\n");
    assert.equal((await store.getLogin())?.accessToken, "A2");
  });

  test("fingerprints are stable, short and not the token", () => {
    assert.equal(tokenFingerprint("syt_abc"), tokenFingerprint("syt_abc"));
    assert.notEqual(tokenFingerprint("syt_abc"), tokenFingerprint("syt_abd"));
    assert.equal(tokenFingerprint("syt_abc").length, 32);
    assert.ok(!tokenFingerprint("syt_abc").includes("abc"));
  });
});

describe("env file: expiring tokens", () => {
  test("reads the refresh token, the expiry and the OAuth client", async () => {
    const file = join(dir, "c.env");
    writeFileSync(file, "MATRIX_ACCESS_TOKEN=A\nMATRIX_REFRESH_TOKEN=R\nMATRIX_TOKEN_EXPIRES_AT=2030-01-01T00:00:00.000Z\nMATRIX_OAUTH_ISSUER=https://auth.example.org/\nMATRIX_OAUTH_CLIENT_ID=c1\n");
    const env = await loadMatrixEnv(file, {});
    assert.equal(env.refreshToken, "R");
    assert.equal(env.expiresAt, Date.parse("2030-01-01T00:00:00Z"));
    assert.deepEqual(env.oauth, { issuer: "https://auth.example.org/", clientId: "c1" });
    assert.equal(parseExpiry(""), undefined);
    assert.equal(parseExpiry("1700000000000"), 1_700_000_000_000);
    assert.equal(parseExpiry("not a date"), undefined);
  });
});
