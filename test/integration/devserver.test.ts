/**
 * Integration tests for the local Synapse harness. They start real Synapse
 * processes in the chroot, so they need root (and the cached rootfs, or
 * network access to build it once).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  connectTestHomeserver,
  RegistrationError,
  startDevHomeserver,
  type DevHomeserver,
} from "../../src/devserver/index.js";

const skip = process.getuid?.() !== 0 ? "needs root to chroot into the Synapse rootfs" : false;

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

function passwordLogin(hs: DevHomeserver, user: string, password: string): Promise<Response> {
  return fetch(`${hs.baseUrl}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
  });
}

async function whoami(hs: DevHomeserver, token: string): Promise<string> {
  const res = await fetch(`${hs.baseUrl}/_matrix/client/v3/account/whoami`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return (await json(res)).user_id as string;
}

test("dev homeserver: start, register, log in, stop", { skip, timeout: 120_000 }, async () => {
  const progress: string[] = [];
  const hs = await startDevHomeserver({ onProgress: (m) => progress.push(m) });
  try {
    assert.match(hs.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(hs.serverName, "localhost");
    assert.ok(hs.pid !== undefined && hs.dataDir !== undefined && existsSync(hs.dataDir));
    assert.ok(progress.some((m) => m.includes("ready")), "reports readiness");

    const alice = await hs.registerUser("alice", "alice-pw");
    const bob = await hs.registerUser("bob", "bob-pw", { admin: true, displayName: "Bob" });
    assert.equal(alice.userId, "@alice:localhost");
    assert.equal(bob.userId, "@bob:localhost");
    assert.ok(alice.accessToken && alice.deviceId);
    assert.equal(await whoami(hs, bob.accessToken), bob.userId);

    const login = await passwordLogin(hs, "alice", "alice-pw");
    assert.equal(login.status, 200);
    const session = await json(login);
    assert.equal(session.user_id, alice.userId);
    assert.notEqual(session.device_id, alice.deviceId, "password login creates a new device");
    assert.equal(await whoami(hs, session.access_token as string), alice.userId);

    const profile = await fetch(`${hs.baseUrl}/_matrix/client/v3/profile/${encodeURIComponent(bob.userId)}`, {
      headers: { authorization: `Bearer ${bob.accessToken}` },
    });
    assert.equal((await json(profile)).displayname, "Bob");

    await assert.rejects(hs.registerUser("alice", "other-pw"), (err: unknown) => {
      assert.ok(err instanceof RegistrationError);
      assert.equal(err.errcode, "M_USER_IN_USE");
      assert.equal(err.status, 400);
      assert.match(err.message, /"alice".*M_USER_IN_USE/);
      assert.ok(!err.message.includes("other-pw") && !err.message.includes(hs.registrationSecret));
      return true;
    });

    // The log goes to the data dir, never to our stdout, and holds no secrets.
    const log = readFileSync(hs.logFile ?? "", "utf8");
    assert.match(log, /Synapse now listening on TCP port/);
    for (const secret of [hs.registrationSecret, alice.accessToken, session.access_token as string, "alice-pw"]) {
      assert.ok(!log.includes(secret), "log leaks a secret");
    }
  } finally {
    await hs.stop();
  }

  await assert.rejects(fetch(`${hs.baseUrl}/_matrix/client/versions`), "port no longer answers");
  assert.equal(existsSync(hs.dataDir ?? ""), false, "data dir removed");
  await hs.stop(); // idempotent
});

test("two instances side by side, relaxed and default rate limits", { skip, timeout: 120_000 }, async () => {
  const [relaxed, strict] = await Promise.all([
    startDevHomeserver(),
    startDevHomeserver({ rateLimits: "default", serverName: "strict.test" }),
  ]);
  try {
    assert.notEqual(relaxed.baseUrl, strict.baseUrl);
    assert.notEqual(relaxed.registrationSecret, strict.registrationSecret);
    const a = await relaxed.registerUser("carol", "pw");
    const b = await strict.registerUser("carol", "pw");
    assert.equal(a.userId, "@carol:localhost");
    assert.equal(b.userId, "@carol:strict.test");

    // Synapse's default rc_login.account allows a burst of 5 logins.
    const statuses = async (hs: DevHomeserver): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 7; i++) out.push((await passwordLogin(hs, "carol", "pw")).status);
      return out;
    };
    assert.deepEqual(await statuses(relaxed), [200, 200, 200, 200, 200, 200, 200]);
    assert.ok((await statuses(strict)).includes(429), "default limits still apply");
  } finally {
    await Promise.all([relaxed.stop(), strict.stop()]);
  }
});

test("dataDir outside the rootfs is bind-mounted privately and kept", { skip, timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "niobot-hs-"));
  try {
    const hs = await startDevHomeserver({ dataDir: dir, keepData: true });
    try {
      await hs.registerUser("dave", "pw");
      // The mount lives in Synapse's own mount namespace, not ours.
      assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes("/srv/niobot/mnt-"));
    } finally {
      await hs.stop();
    }
    assert.ok((await readdir(dir)).includes("homeserver.db"), "Synapse wrote through the bind mount");

    // Restarting on the kept dir reuses the database and the shared secret.
    const again = await startDevHomeserver({ dataDir: dir });
    try {
      await assert.rejects(again.registerUser("dave", "pw"), /M_USER_IN_USE/);
      assert.equal(await whoami(again, (await again.registerUser("erin", "pw")).accessToken), "@erin:localhost");
    } finally {
      await again.stop();
    }
    assert.ok(existsSync(join(dir, "homeserver.db")), "a pre-existing dataDir is never deleted");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("connectTestHomeserver uses MATRIX_TEST_HOMESERVER when set", { skip, timeout: 120_000 }, async () => {
  const local = await startDevHomeserver({ serverName: "ext.test" });
  const saved = { ...process.env };
  try {
    process.env.MATRIX_TEST_HOMESERVER = `${local.baseUrl}/`;
    process.env.MATRIX_TEST_REGISTRATION_SECRET = local.registrationSecret;
    delete process.env.MATRIX_TEST_SERVER_NAME;
    const ext = await connectTestHomeserver();
    assert.equal(ext.baseUrl, local.baseUrl);
    assert.equal(ext.pid, undefined);
    assert.equal(ext.serverName, "127.0.0.1", "guessed from the URL until a user id says otherwise");
    assert.equal((await ext.registerUser("frank", "pw")).userId, "@frank:ext.test");
    assert.equal(ext.serverName, "ext.test");
    await ext.stop(); // a no-op: the server is not ours
    assert.equal((await fetch(`${local.baseUrl}/_matrix/client/versions`)).status, 200);

    process.env.MATRIX_TEST_REGISTRATION_SECRET = "wrong";
    await assert.rejects((await connectTestHomeserver()).registerUser("gina", "pw"), /HMAC incorrect/);
    delete process.env.MATRIX_TEST_REGISTRATION_SECRET;
    await assert.rejects(connectTestHomeserver(), /both MATRIX_TEST_HOMESERVER and MATRIX_TEST_REGISTRATION_SECRET/);
  } finally {
    process.env = saved;
    await local.stop();
  }
});
