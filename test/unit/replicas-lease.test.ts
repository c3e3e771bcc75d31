/**
 * The replicas' lease against a real PostgreSQL: one holder at a time, a
 * takeover after expiry with a higher fencing number, the old holder's
 * writes refused, a frozen holder noticing it lost the lease before acting.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../src/logging/logger.js";
import { Lease, LeaseLostError } from "../../src/replicas/lease.js";
import { ReplicaGate } from "../../src/replicas/gate.js";
import { PostgresStore } from "../../src/storage/postgres/store.js";
import { postgresUnavailable, startTestPostgres, type TestPostgres } from "../helpers/postgres.js";

describe("replica lease", { skip: postgresUnavailable() }, () => {
  let pg: TestPostgres;
  const stores: PostgresStore[] = [];
  const shared = async (schema: string): Promise<PostgresStore> => {
    const store = new PostgresStore(pg.url, { schema, shared: true });
    stores.push(store);
    await store.open();
    return store;
  };
  before(async () => {
    pg = await startTestPostgres();
  });
  after(async () => {
    for (const store of stores) await store.close().catch(() => undefined);
    await pg?.stop();
  });

  test("one holder at a time; a frozen holder (SIGSTOP past its lease) is replaced with a higher fence, and after SIGCONT writes nothing", async () => {
    const schema = pg.schema();
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../fixtures/lease-holder.ts", import.meta.url)), pg.url, schema, "1500"], { stdio: ["ignore", "pipe", "inherit"] });
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout! }).on("line", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    try {
      const until = async (check: () => boolean): Promise<void> => {
        while (!check()) await new Promise((r) => setTimeout(r, 50));
      };
      await until(() => lines.filter((l) => "wrote" in l).length >= 3);
      const childFence = lines[0]?.acquired as number;
      const b = await shared(schema);
      const gateB = new ReplicaGate(b, silentLogger, { leaseMs: 1_500, holder: "B" });
      const standby = new AbortController();
      const took: { value?: { fence: number; previous: string | undefined } } = {};
      const waiting = gateB.enter(silentLogger, standby.signal).then((t) => (took.value = t));
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(took.value, undefined, "B stands by while the holder renews");
      assert.equal(gateB.state, "waiting");

      child.kill("SIGSTOP");
      const frozen = Date.now();
      await waiting;
      const takeoverMs = Date.now() - frozen;
      const bTook = took.value as { fence: number; previous: string | undefined } | undefined;
      assert.ok(bTook && bTook.fence > childFence, "a higher fencing number");
      assert.equal(bTook.previous, "child", "B knows whom it took over from");
      console.log(`# takeover after the holder froze: ${takeoverMs} ms (lease 1500 ms)`);
      await b.commitSync("from-B", []);

      const seen = lines.length;
      child.kill("SIGCONT");
      await until(() => lines.length >= seen + 5);
      const afterwards = lines.slice(seen);
      assert.deepEqual(afterwards.filter((l) => "wrote" in l), [], "nothing written after the freeze");
      assert.ok(afterwards.every((l) => l.refused === "LeaseLostError" || l.refused === "StoreFencedError"));
      assert.equal(await b.getSyncToken(), "from-B", "B's position stands");
      await assert.rejects(gateB.guard(async () => { throw new Error("unreachable"); })("http://x", {}), /unreachable/, "the active replica's requests go through");
      await gateB.release();
      standby.abort();
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("a clean release hands over at the standby's next poll, not after a lease time", async () => {
    const schema = pg.schema();
    const [a, b] = [await shared(schema), await shared(schema)];
    const leaseA = new Lease(a.sql, silentLogger, { leaseMs: 20_000, renewMs: 200, holder: "A" });
    const leaseB = new Lease(b.sql, silentLogger, { leaseMs: 20_000, renewMs: 200, holder: "B" });
    await leaseA.acquire();
    const waiting = leaseB.acquire();
    await new Promise((r) => setTimeout(r, 500));
    const released = Date.now();
    await leaseA.release();
    assert.throws(() => leaseA.assertHeld(), LeaseLostError, "a released lease is not held: no more sends");
    const taken = await waiting;
    assert.ok(Date.now() - released < 10_000, "well within the 20 s lease");
    assert.equal(taken.previous, undefined, "a released lease has no holder");
    await leaseB.release();
  });
});

