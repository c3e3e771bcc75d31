import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { NioBot } from "../../src/bot/bot.js";
import { KvSpace } from "../../src/kv/kv.js";
import { KvValueError } from "../../src/kv/errors.js";
import { KV_MAX_VALUE_BYTES } from "../../src/kv/value.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import type { Store } from "../../src/storage/store.js";
import { postgresStoreKind } from "../helpers/postgres.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-kv-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const kinds: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(join(dir, `${Math.random()}.db`))],
];
// The same tests against PostgreSQL (a throwaway cluster); skipped, with the reason, without its binaries.
const pg = await postgresStoreKind();
if ("kind" in pg) kinds.push(pg.kind);
else describe("PostgresStore", { skip: pg.skip }, () => undefined);

async function opened(make: () => Store): Promise<Store> {
  const store = make();
  await store.open();
  return store;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

for (const [name, make] of kinds) {
  describe(`kv on ${name}`, () => {
    test("get, set, delete, and namespaces are separate", async () => {
      const space = new KvSpace(await opened(make));
      const a = space.namespace<{ n: number }>("a");
      const b = space.namespace<{ n: number }>("b");
      assert.equal(await a.get("k"), undefined);
      await a.set("k", { n: 1 });
      assert.deepEqual(await a.get("k"), { n: 1 });
      assert.equal(await b.get("k"), undefined);
      assert.equal(await a.delete("k"), true);
      assert.equal(await a.delete("k"), false);
      assert.equal(await a.get("k"), undefined);
    });

    test("100 concurrent increments of one key give 100 (fn that awaits in between)", async () => {
      const kv = new KvSpace(await opened(make)).namespace<number>("counters");
      await Promise.all(
        Array.from({ length: 100 }, () =>
          kv.update("hits", async (n = 0) => {
            await tick(); // lets every other update read the same value, were they not serialized
            return n + 1;
          }),
        ),
      );
      assert.equal(await kv.get("hits"), 100);
      // A plain synchronous fn, mixed with sets of another key, too.
      await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? kv.update("sync", (n = 0) => n + 1) : kv.set(`other${i}`, i))));
      assert.equal(await kv.get("sync"), 50);
    });

    test("update returning undefined deletes; a throwing fn changes nothing", async () => {
      const kv = new KvSpace(await opened(make)).namespace<number>("u");
      await kv.set("k", 1);
      await assert.rejects(kv.update("k", () => { throw new Error("boom"); }), /boom/);
      assert.equal(await kv.get("k"), 1);
      assert.equal(await kv.update("k", () => undefined), undefined);
      assert.equal(await kv.get("k"), undefined);
    });

    test("bad values are refused with KvValueError and the stored value stays", async () => {
      const store = await opened(make);
      const kv = new KvSpace(store).namespace<unknown>("bad");
      await kv.set("k", { good: true });
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = { back: cyclic };
      const cases: [string, unknown, string][] = [
        ["undefined", undefined, "KV_UNDEFINED"],
        ["a function", () => 1, "KV_NOT_JSON"],
        ["a BigInt", { n: 1n }, "KV_NOT_JSON"],
        ["a cycle", cyclic, "KV_CYCLE"],
        ["NaN", [1, Number.NaN], "KV_NOT_JSON"],
        ["undefined in an array", [undefined], "KV_NOT_JSON"],
        ["a Date", { at: new Date(0) }, "KV_NOT_JSON"],
        ["a Map", new Map(), "KV_NOT_JSON"],
        ["a symbol", { s: Symbol("x") }, "KV_NOT_JSON"],
        ["too large", "x".repeat(KV_MAX_VALUE_BYTES), "KV_TOO_LARGE"],
      ];
      for (const [what, value, errcode] of cases) {
        await assert.rejects(kv.set("k", value), (e: unknown) => e instanceof KvValueError && e.errcode === errcode, `set ${what}`);
        // (update returning undefined means delete, so that case is for set only)
        if (value !== undefined) await assert.rejects(kv.update("k", () => value), (e: unknown) => e instanceof KvValueError && e.errcode === errcode, `update ${what}`);
        assert.deepEqual(await kv.get("k"), { good: true }, `after ${what}`);
      }
      // Exactly at the cap is fine (the JSON text of a string has two quotes).
      await kv.set("max", "x".repeat(KV_MAX_VALUE_BYTES - 2));
      // An undefined object property is dropped, as JSON does.
      await kv.set("k", { a: 1, b: undefined });
      assert.deepEqual(await kv.get("k"), { a: 1 });
    });

    test("a stored value that is not JSON reads as KvValueError KV_CORRUPT", async () => {
      const store = await opened(make);
      const kv = new KvSpace(store).namespace<unknown>("c");
      await store.kvSet("c", "k", "{not json", undefined);
      await assert.rejects(kv.get("k"), (e: unknown) => e instanceof KvValueError && e.errcode === "KV_CORRUPT");
      await assert.rejects(kv.update("k", () => 1), (e: unknown) => e instanceof KvValueError && e.errcode === "KV_CORRUPT");
      await assert.rejects(async () => { for await (const _ of kv) void _; }, KvValueError);
      assert.equal((await store.kvGet("c", "k"))?.value, "{not json");
    });

    test("iteration by prefix, in key order, across pages", async () => {
      const kv = new KvSpace(await opened(make)).namespace<number>("it");
      const keys = ["b1", "a2", "a1", "a10", "a\u00e9", "a\u{1F600}", "a\uFFFF", "c", "a"];
      for (const [i, k] of keys.entries()) await kv.set(k, i);
      await new KvSpace(kv.space.store).namespace<number>("other").set("a0", 0);
      const got: string[] = [];
      for await (const [k] of kv.entries({ prefix: "a", pageSize: 2 })) got.push(k);
      assert.deepEqual(got, ["a", "a1", "a10", "a2", "a\u00e9", "a\uFFFF", "a\u{1F600}"]);
      const all: [string, number][] = [];
      for await (const entry of kv) all.push(entry);
      assert.equal(all.length, keys.length);
      assert.deepEqual(all.find(([k]) => k === "c"), ["c", 7]);
      // Prefix characters are not wildcards.
      await kv.set("%x", 1);
      await kv.set("_y", 1);
      const pct: string[] = [];
      for await (const [k] of kv.entries({ prefix: "%" })) pct.push(k);
      assert.deepEqual(pct, ["%x"]);
    });

    test("TTL: expired values read as absent, are skipped, and are purged", async () => {
      let now = 1_000_000;
      const store = await opened(make);
      const space = new KvSpace(store, { now: () => now, purgeIntervalMs: 60_000 });
      const kv = space.namespace<string>("ttl");
      await kv.get("warm-up"); // the first access purges; the next purge is due in 60 s
      await kv.set("short", "s", { ttlMs: 1000 });
      await kv.set("long", "l", { ttlMs: 5000 });
      await kv.set("forever", "f");
      await space.namespace<string>("elsewhere").set("gone", "g", { ttlMs: 10 });
      now += 999;
      assert.equal(await kv.get("short"), "s");
      // An update without ttlMs keeps the expiry.
      await kv.update("short", (v) => `${v}!`);
      now += 1;
      assert.equal(await kv.get("short"), undefined);
      assert.equal(await store.kvGet("ttl", "short"), undefined, "read lazily purges it");
      const live: string[] = [];
      for await (const [k] of kv) live.push(k);
      assert.deepEqual(live, ["forever", "long"]);
      // An expired value is absent to update as well.
      now += 5000;
      assert.equal(await kv.update("long", (v) => (v === undefined ? "new" : "old")), "new");
      assert.ok(await store.kvGet("elsewhere", "gone"), "not purged yet: interval not over");
      now += 60_000;
      await kv.get("x");
      assert.equal(await store.kvGet("elsewhere", "gone"), undefined, "the periodic purge reached another namespace");
      assert.equal(await kv.get("long"), "new", "a fresh value written by update has no expiry");
      await assert.rejects(kv.set("k", "v", { ttlMs: 0 }), RangeError);
    });
  });
}

test("values survive a restart: the SQLite store reopened", async () => {
  const path = join(dir, "restart.db");
  const bot = new NioBot({ homeserver: "https://example.org", userId: "@bot:example.org", storePath: path, handleSignals: false });
  await bot.store.open();
  await Promise.all(Array.from({ length: 100 }, () => bot.kv<number>("counters").update("n", (n = 0) => n + 1)));
  await bot.kv<{ lang: string }>("prefs").set("@alice:example.org", { lang: "de" });
  await bot.kv<string>("tmp").set("k", "v", { ttlMs: 3_600_000 });
  await bot.store.close();

  const again = new NioBot({ homeserver: "https://example.org", userId: "@bot:example.org", storePath: path, handleSignals: false });
  await again.store.open();
  assert.equal(await again.kv<number>("counters").get("n"), 100);
  assert.deepEqual(await again.kv<{ lang: string }>("prefs").entry("@alice:example.org").get(), { lang: "de" });
  assert.equal(await again.kv<string>("tmp").get("k"), "v");
  await again.store.close();
});

test("namespaces and keys are checked", () => {
  const space = new KvSpace(new MemoryStore());
  assert.throws(() => space.namespace(""), RangeError);
  assert.throws(() => space.namespace("x".repeat(1025)), RangeError);
  assert.throws(() => space.namespace("n").entry("x".repeat(1025)), RangeError);
});
