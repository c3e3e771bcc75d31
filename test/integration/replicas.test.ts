/**
 * Replicas with one active, against the real homeserver and a real
 * PostgreSQL; each replica is its own process (`test/fixtures/replica-bot.ts`).
 *
 * - two replicas started together with a password make one login and one device;
 * - failover under load: a burst of 50 commands, the active replica `kill -9`'d
 *   in the middle; every command is answered exactly once, counted from the
 *   user's side, and the takeover time is measured;
 * - fencing: the active replica frozen (SIGSTOP) past its lease, then resumed
 *   (SIGCONT), sends nothing while the new active one answers;
 * - encryption across a handover: the same device and keys answer an encrypted DM;
 * - a database restart while running: no command lost or repeated.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { startTestHomeserver, type TestBotAccount, type TestHomeserver, type TestPerson } from "../../src/testing/index.js";
import { postgresUnavailable, startTestPostgres, type TestPostgres } from "../helpers/postgres.js";

const LEASE_MS = 4_000;
const fixture = fileURLToPath(new URL("../fixtures/replica-bot.ts", import.meta.url));

interface Line {
  event: string;
  replica: string;
  at: number;
  [key: string]: unknown;
}

class Replica {
  readonly lines: Line[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  constructor(readonly name: string, readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line) as Line);
      } catch {
        // not one of ours
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }
  seen(event: string): Line | undefined {
    return this.lines.find((l) => l.event === event);
  }
  get health(): string | undefined {
    return this.lines.filter((l) => l.event === "health").at(-1)?.health as string | undefined;
  }
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The bot's `n <i> by <replica>` answers in a room, as the user saw them. */
function answers(person: TestPerson, roomId: string, botId: string): { i: number; by: string }[] {
  const out: { i: number; by: string }[] = [];
  for (const { event } of person.events(roomId)) {
    const body = (event.content as { body?: unknown }).body;
    const m = event.sender === botId && typeof body === "string" ? /^n (\d+) by (\w+)$/.exec(body) : null;
    if (m) out.push({ i: Number(m[1]), by: m[2]! });
  }
  return out;
}

describe("replicas with one active", { skip: postgresUnavailable() }, () => {
  let hs: TestHomeserver;
  let pg: TestPostgres;
  const children: ChildProcess[] = [];

  before(async () => {
    // One after the other: on a busy machine, starting PostgreSQL beside the homeserver probe can time the probe out.
    hs = await startTestHomeserver();
    pg = await startTestPostgres();
  });
  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await hs?.stop();
    await pg?.stop();
  });

  function start(name: string, account: TestBotAccount, schema: string, env: Record<string, string> = {}): Replica {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      env: {
        ...process.env,
        MATRIX_HOMESERVER: account.homeserver,
        MATRIX_USER_ID: account.userId,
        MATRIX_PASSWORD: account.password,
        STORE_URL: `${pg.url}?schema=${schema}`,
        LEASE_MS: String(LEASE_MS),
        REPLICA: name,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return new Replica(name, child);
  }

  async function devices(account: TestBotAccount): Promise<string[]> {
    const api = new MatrixApi({ baseUrl: account.homeserver, accessToken: account.accessToken });
    const body = await api.http.request<{ devices: { device_id: string }[] }>({ method: "GET", path: "/_matrix/client/v3/devices" });
    return body.devices.map((d) => d.device_id).sort();
  }

  /** Starts two replicas at once; resolves with [active, standby] once one is ready and the other stands by. */
  async function pair(account: TestBotAccount, schema: string, env: Record<string, string> = {}): Promise<[Replica, Replica]> {
    const a = start("A", account, schema, env);
    const b = start("B", account, schema, env);
    const active = await until("a ready replica", () => [a, b].find((r) => r.seen("ready")), 120_000);
    const standby = active === a ? b : a;
    await until("the other replica to stand by", () => standby.health === "standby");
    assert.equal(standby.seen("acquired"), undefined, "only one replica holds the lease");
    return [active, standby];
  }

  test("two replicas started together log in once; kill -9 of the active one mid-burst: all 50 commands answered exactly once", async () => {
    const account = await hs.botAccount("replicated");
    const before = await devices(account);
    const [active, standby] = await pair(account, "failover");
    const added = (await devices(account)).filter((d) => !before.includes(d));
    assert.deepEqual(added, [active.seen("ready")!.deviceId], "one login, one new device");

    const carol = await hs.user("carol");
    const room = await carol.dm(account.userId);
    let killedAt = 0;
    for (let i = 0; i < 50; i++) {
      await carol.say(room, `!n ${i}`);
      if (i === 20) {
        // Mid-burst, with commands in flight: no clean shutdown, no lease release.
        active.child.kill("SIGKILL");
        killedAt = Date.now();
      }
    }
    const all = await until("all 50 answers", () => {
      const seen = answers(carol, room, account.userId);
      return new Set(seen.map((a) => a.i)).size === 50 ? seen : undefined;
    }, 120_000);
    // Late duplicates would arrive within a sync or two.
    await new Promise((r) => setTimeout(r, 3_000));
    const final = answers(carol, room, account.userId);
    const counts = new Map<number, number>();
    for (const a of final) counts.set(a.i, (counts.get(a.i) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n !== 1);
    assert.deepEqual(repeated, [], "every command answered exactly once");
    assert.equal(counts.size, 50);
    assert.ok(all.some((a) => a.by === standby.name), "the standby took over and answered");

    const acquired = standby.seen("acquired")!;
    const ready = standby.seen("ready")!;
    assert.equal(acquired.previous, active.name, "it knows whom it took over from");
    assert.equal(ready.deviceId, active.seen("ready")!.deviceId, "the same device");
    assert.match(standby.stderr, /took over the lease/);
    console.log(`# failover: lease taken ${acquired.at - killedAt} ms after kill -9, ready (logged in, synced) after ${ready.at - killedAt} ms (lease ${LEASE_MS} ms)`);
    assert.deepEqual(await devices(account), [...before, ...added].sort(), "still no new device");
    standby.child.kill("SIGTERM");
    await standby.exited;
    await carol.stop();
  });

  test("fencing: the active replica frozen past its lease sends and commits nothing after SIGCONT; the new one answers", async () => {
    const account = await hs.botAccount("fenced");
    const [active, standby] = await pair(account, "fencing");
    const dave = await hs.user("dave");
    const room = await dave.dm(account.userId);
    await dave.say(room, "!n 1");
    await dave.expectReply(room, new RegExp(`^n 1 by ${active.name}$`));

    active.child.kill("SIGSTOP");
    // Sent while the active one is frozen: its open long poll may already carry it.
    await dave.say(room, "!n 2");
    await until("the standby to take over", () => standby.seen("ready"), 60_000);
    await dave.expectReply(room, new RegExp(`^n 2 by ${standby.name}$`), { timeoutMs: 30_000 });
    active.child.kill("SIGCONT");
    const code = await active.exited;
    assert.equal(code, 1, "the fenced replica stops, with an exit code for its supervisor");
    assert.ok(active.seen("lost"), "it reported leadershipLost");
    assert.match(active.stderr, /lost the lease/);
    await dave.say(room, "!n 3");
    await dave.expectReply(room, new RegExp(`^n 3 by ${standby.name}$`));
    await new Promise((r) => setTimeout(r, 2_000));
    const seen = answers(dave, room, account.userId);
    assert.deepEqual(seen.filter((a) => a.by === active.name).map((a) => a.i), [1], "nothing from the frozen replica after it froze");
    assert.deepEqual(seen.map((a) => a.i).sort(), [1, 2, 3], "each answered once");
    standby.child.kill("SIGTERM");
    await standby.exited;
    await dave.stop();
  });

  test("encryption across a handover: an encrypted DM works before and after kill -9 of the active one, with the same device and identity", async () => {
    const account = await hs.botAccount("encrypted");
    const before = await devices(account);
    const [active, standby] = await pair(account, "encrypted", { ENCRYPTION: "1" });
    const frank = await hs.user("frank", { encrypted: true });
    const room = await frank.dm(account.userId);
    await frank.say(room, "!n 1");
    const first = await frank.expectReply(room, new RegExp(`^n 1 by ${active.name}$`), { timeoutMs: 60_000 });
    const keysBefore = await frank.client.api.http.request<{ device_keys: Record<string, Record<string, { keys: Record<string, string> }>> }>({
      method: "POST", path: "/_matrix/client/v3/keys/query", body: { device_keys: { [account.userId]: [] } },
    });
    active.child.kill("SIGKILL");
    await frank.say(room, "!n 2");
    const second = await frank.expectReply(room, new RegExp(`^n 2 by ${standby.name}$`), { timeoutMs: 90_000 });
    for (const reply of [first, second]) assert.equal((await frank.client.api.rooms.event(room, reply.event_id)).type, "m.room.encrypted");
    const device = active.seen("ready")!.deviceId as string;
    assert.equal(standby.seen("ready")!.deviceId, device, "the same device");
    const keysAfter = await frank.client.api.http.request<typeof keysBefore>({
      method: "POST", path: "/_matrix/client/v3/keys/query", body: { device_keys: { [account.userId]: [] } },
    });
    assert.deepEqual(keysAfter.device_keys[account.userId]?.[device]?.keys, keysBefore.device_keys[account.userId]?.[device]?.keys, "the same identity keys");
    assert.deepEqual((await devices(account)).filter((d) => !before.includes(d)), [device], "no new device");
    standby.child.kill("SIGTERM");
    await standby.exited;
    await frank.stop();
  });

  test("a database restart while running: the bot waits, recovers, and no command is lost or repeated", async () => {
    const account = await hs.botAccount("outage");
    // A lease longer than the restart takes on this (shared, slow) machine: the outage must not cost it.
    const [active, standby] = await pair(account, "outage", { LEASE_MS: "20000" });
    const erin = await hs.user("erin");
    const room = await erin.dm(account.userId);
    await erin.say(room, "!n 0");
    await erin.expectReply(room, /^n 0 by /);
    for (let i = 1; i <= 10; i++) {
      await erin.say(room, `!n ${i}`);
      if (i === 5) {
        const restarting = Date.now();
        await pg.restart();
        console.log(`# PostgreSQL restarted in ${Date.now() - restarting} ms`);
      }
    }
    await until("all 11 answers", () => new Set(answers(erin, room, account.userId).map((a) => a.i)).size === 11 || undefined, 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    const seen = answers(erin, room, account.userId);
    assert.deepEqual(seen.map((a) => a.i).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "each answered exactly once");
    assert.ok(seen.every((a) => a.by === active.name), "no failover: a short outage does not cost the lease");
    assert.equal(standby.seen("acquired"), undefined);
    for (const r of [active, standby]) r.child.kill("SIGTERM");
    await Promise.all([active.exited, standby.exited]);
    await erin.stop();
  });
});
