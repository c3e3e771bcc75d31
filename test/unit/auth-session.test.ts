/**
 * `SessionAuth` decisions, with scripted refresh and login steps (the real
 * homeserver paths are in test/integration/refresh.test.ts and soft-logout.test.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixError, MatrixNetworkError } from "../../src/api/errors.js";
import { refreshMarginOf, SessionAuth, type SessionAuthOptions } from "../../src/auth/session.js";
import { SessionLostError, tokenSetOf, type TokenSet } from "../../src/auth/tokens.js";
import { redactPath } from "../../src/api/errors.js";
import { silentLogger } from "../../src/logging/logger.js";

const SYNC = { method: "GET", path: "/_matrix/client/v3/sync" };
const expired = (soft: boolean) => new MatrixError(SYNC, 401, { errcode: "M_UNKNOWN_TOKEN", soft_logout: soft });
const refused = () => new MatrixError({ method: "POST", path: "/_matrix/client/v3/refresh" }, 403, { errcode: "M_FORBIDDEN" });

function session(o: Partial<SessionAuthOptions> & { tokens?: TokenSet }): { auth: SessionAuth; persisted: TokenSet[] } {
  const persisted: TokenSet[] = [];
  const auth = new SessionAuth({
    tokens: { accessToken: "A1", refreshToken: "R1" },
    persist: async (t) => void persisted.push(t),
    log: silentLogger,
    initialBackoffMs: 1,
    ...o,
  });
  return { auth, persisted };
}

describe("SessionAuth", () => {
  test("concurrent 401s share one refresh, and the pair is persisted before anyone gets it", async () => {
    let calls = 0;
    let persistedWhenHandedOut = false;
    const { auth, persisted } = session({
      refresh: async (r) => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { accessToken: `A-from-${r}`, refreshToken: "R2" };
      },
    });
    await Promise.all(Array.from({ length: 10 }, () => auth.rejected("A1", expired(true))));
    persistedWhenHandedOut = persisted.length === 1;
    assert.equal(calls, 1);
    assert.equal(await auth.accessToken(), "A-from-R1");
    assert.ok(persistedWhenHandedOut);
    // A late 401 for the old token does not refresh again.
    await auth.rejected("A1", expired(true));
    assert.equal(calls, 1);
  });

  test("a pair that cannot be persisted is not used; the next attempt refreshes again with the old token", async () => {
    const seen: string[] = [];
    let failPersist = true;
    const auth = new SessionAuth({
      tokens: { accessToken: "A1", refreshToken: "R1" },
      refresh: async (r) => (seen.push(r), { accessToken: `A${seen.length + 1}`, refreshToken: `R${seen.length + 1}` }),
      persist: async () => {
        if (failPersist) throw new Error("disk full");
      },
      log: silentLogger,
    });
    await assert.rejects(auth.rejected("A1", expired(true)), /disk full/);
    assert.equal(await auth.accessToken(), "A1", "the unpersisted token was never handed out");
    failPersist = false;
    await auth.rejected("A1", expired(true));
    assert.deepEqual(seen, ["R1", "R1"], "the old refresh token was used again");
    assert.equal(await auth.accessToken(), "A3");
  });

  test("refreshes ahead of expiry; a failing early refresh keeps the still-valid token", async () => {
    let now = 1_000_000;
    let fail = true;
    const { auth } = session({
      now: () => now,
      tokens: { accessToken: "A1", refreshToken: "R1", expiresAt: now + 20_000 },
      refresh: async () => {
        if (fail) throw new MatrixNetworkError({ method: "POST", path: "/refresh" }, new Error("down"));
        return { accessToken: "A2", refreshToken: "R2", expiresAt: now + 20_000 };
      },
      refreshAttempts: 1,
    });
    assert.equal(refreshMarginOf(20_000, 60_000), 4_000);
    assert.equal(await auth.accessToken(), "A1", "not due yet");
    now += 17_000;
    assert.equal(await auth.accessToken(), "A1", "due, but the refresh failed: the old token still works");
    fail = false;
    assert.equal(await auth.accessToken(), "A2");
  });

  test("soft logout with a refused refresh logs in again; repeated re-logins back off", async () => {
    let logins = 0;
    const { auth } = session({
      refresh: async () => {
        throw refused();
      },
      relogin: async () => ({ accessToken: `L${++logins}` }),
      maxReloginBackoffMs: 50,
    });
    await auth.rejected("A1", expired(true));
    assert.equal(await auth.accessToken(), "L1");
    const started = Date.now();
    await auth.rejected("L1", expired(true));
    assert.equal(await auth.accessToken(), "L2");
    assert.ok(Date.now() - started >= 20, "the second login in a row waited");
    assert.equal(auth.counts.relogins, 2);
  });

  test("a hard logout is never answered with a login to the same device", async () => {
    let logins = 0;
    const { auth } = session({ tokens: { accessToken: "A1" }, relogin: async () => ({ accessToken: `L${++logins}` }) });
    const error = await auth.rejected("A1", expired(false)).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof SessionLostError);
    assert.equal(error.reason, "hard-logout");
    assert.equal(error.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(logins, 0);
  });

  test("without a password: one clear error, and every later request gets it", async () => {
    const { auth } = session({ refresh: async () => { throw refused(); } });
    const error = await auth.rejected("A1", expired(true)).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof SessionLostError);
    assert.equal(error.reason, "no-password");
    assert.match(error.message, /no password/);
    await assert.rejects(async () => auth.accessToken(), SessionLostError);
  });

  test("a wrong password ends the session instead of retrying", async () => {
    let logins = 0;
    const { auth } = session({
      tokens: { accessToken: "A1" },
      relogin: async () => {
        logins++;
        throw new MatrixError({ method: "POST", path: "/login" }, 403, { errcode: "M_FORBIDDEN" });
      },
    });
    const error = await auth.rejected("A1", expired(true)).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof SessionLostError && error.reason === "password-refused");
    await assert.rejects(auth.rejected("A1", expired(true)), SessionLostError);
    assert.equal(logins, 1);
  });

  test("token sets: expiry from expires_in_ms, the old refresh token kept when none is returned; refresh tokens redacted", () => {
    assert.deepEqual(tokenSetOf({ access_token: "a", expires_in_ms: 5000 }, 100, "r"), { accessToken: "a", refreshToken: "r", expiresAt: 5100 });
    assert.deepEqual(tokenSetOf({ access_token: "a" }, 100), { accessToken: "a" });
    assert.equal(redactPath("bad syr_abc_def_123 and mat_xyz"), "bad <redacted> and <redacted>");
  });
});
