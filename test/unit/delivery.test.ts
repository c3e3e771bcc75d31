/**
 * Exactly-once delivery building blocks (`src/delivery/`): transaction ids derived from the
 * triggering event, and `runOnce` (what `ctx.once` runs) against both stores.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { deterministicTxnId, SendSequence, scopedTxnId } from "../../src/delivery/txn.js";
import { OnceInterruptedError, OnceResultError, runOnce } from "../../src/delivery/once.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import { EFFECTS_KEPT, type Store } from "../../src/storage/store.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-once-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("deterministic transaction ids", () => {
  test("stable, URL-path safe, distinct per event and per index", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), fc.nat(50), fc.nat(50), (a, b, i, j) => {
        const id = deterministicTxnId(a, [i]);
        assert.match(id, /^nbe[0-9a-f]{64}$/);
        assert.equal(deterministicTxnId(a, [i]), id);
        if (a !== b || i !== j) assert.notEqual(deterministicTxnId(b, [j]), id);
        assert.notEqual(deterministicTxnId(a, [i, 1]), id);
      }),
    );
  });

  test("a known value: the derivation never changes between versions or machines", () => {
    // Changing it would make a bot upgraded between a crash and its restart send a reply twice.
    assert.equal(deterministicTxnId("$event:example.org", [0]), "nbe1c100a9cac364b45450eef87a8f5ad1df35773d77f900e3b86468f839f92808b");
  });

  test("the one-shot hash gives what the createHash object gave, for any event id (lone surrogates included)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.array(fc.nat(50), { minLength: 1, maxLength: 3 }), (eventId, index) => {
        const before = createHash("sha256").update(`niobot.txn.v1\0${eventId}\0${index.join("\0")}`).digest("hex");
        assert.equal(deterministicTxnId(eventId, index), `nbe${before}`);
      }),
    );
  });

  test("sends inside a sequence's calls get the event's ids in call order; outside, none", async () => {
    assert.equal(scopedTxnId(), undefined);
    const seq = new SendSequence("$e");
    const seen: string[][] = [];
    const call = (delayMs: number, sends: number): Promise<void> =>
      seq.run(async () => {
        const ids: string[] = [];
        seen.push(ids);
        await new Promise((r) => setTimeout(r, delayMs));
        for (let i = 0; i < sends; i++) {
          ids.push(scopedTxnId() ?? "none");
          await Promise.resolve();
        }
      });
    // The first call finishes last: indexes follow the order of the calls, not of the sends.
    await Promise.all([call(30, 2), call(0, 1)]);
    assert.deepEqual(seen, [
      [deterministicTxnId("$e", [0]), deterministicTxnId("$e", [0, 1])],
      [deterministicTxnId("$e", [1])],
    ]);
    await seq.run(async () => assert.equal(scopedTxnId(), deterministicTxnId("$e", [2])));
    assert.equal(scopedTxnId(), undefined);
    // A new sequence for the same event (the replay after a restart) starts over at 0.
    await new SendSequence("$e").run(async () => assert.equal(scopedTxnId(), deterministicTxnId("$e", [0])));
  });
});

const kinds: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(join(dir, `${Math.random()}.db`))],
];

for (const [name, make] of kinds) {
  describe(`runOnce with ${name}`, () => {
    test("runs fn once; later calls get the stored result without running it", async () => {
      const store = make();
      await store.open();
      let runs = 0;
      const fn = async (): Promise<{ id: number; tags: string[] }> => ({ id: ++runs, tags: ["a"] });
      assert.deepEqual(await runOnce(store, "$e", "order", fn), { id: 1, tags: ["a"] });
      assert.deepEqual(await runOnce(store, "$e", "order", fn), { id: 1, tags: ["a"] });
      assert.equal(runs, 1);
      // Another key, or another event, is another effect.
      assert.deepEqual(await runOnce(store, "$e", "other", fn), { id: 2, tags: ["a"] });
      assert.deepEqual(await runOnce(store, "$f", "order", fn), { id: 3, tags: ["a"] });
      // Nothing returned is a result too.
      let voids = 0;
      assert.equal(await runOnce(store, "$e", "void", () => void voids++), undefined);
      assert.equal(await runOnce(store, "$e", "void", () => void voids++), undefined);
      assert.equal(voids, 1);
      await store.close();
    });

    test("concurrent calls with one key share one run", async () => {
      const store = make();
      await store.open();
      let runs = 0;
      const fn = async (): Promise<number> => {
        await new Promise((r) => setTimeout(r, 10));
        return ++runs;
      };
      assert.deepEqual(await Promise.all([runOnce(store, "$e", "k", fn), runOnce(store, "$e", "k", fn)]), [1, 1]);
      assert.equal(runs, 1);
      await store.close();
    });

    test("a failed fn records nothing: a retry runs it", async () => {
      const store = make();
      await store.open();
      await assert.rejects(runOnce(store, "$e", "k", () => Promise.reject(new Error("boom"))), /boom/);
      assert.equal(await runOnce(store, "$e", "k", () => 7), 7);
      await store.close();
    });

    test("a result that does not read back as the same JSON is a clear error, and is not run again", async () => {
      const store = make();
      await store.open();
      for (const [key, value] of [["bigint", 1n], ["date", new Date(0)], ["nan", Number.NaN], ["fn", () => 1], ["undef-prop", { a: undefined }]] as const) {
        let runs = 0;
        await assert.rejects(runOnce(store, "$e", key, () => (runs++, value)), (e: unknown) => e instanceof OnceResultError && e.message.includes(key) && /not plain JSON/.test(e.message));
        await assert.rejects(runOnce(store, "$e", key, () => (runs++, value)), OnceInterruptedError);
        assert.equal(runs, 1, key);
      }
      assert.throws(() => runOnce(store, "$e", "", () => 1), TypeError);
      await store.close();
    });

    test("a run interrupted before recording its result is not run again", async () => {
      const store = make();
      await store.open();
      // The process "dies" right after fn: the result never reaches the store.
      const dying = {
        getEffect: (eventId: string, key: string) => store.getEffect(eventId, key),
        setEffect: async (eventId: string, key: string, record: string | undefined) => {
          if (record !== undefined && record.includes('"done":true')) throw new Error("killed");
          return store.setEffect(eventId, key, record);
        },
      } as Partial<Store> as Store;
      let runs = 0;
      await assert.rejects(runOnce(dying, "$e", "charge", () => ++runs), /killed/);
      await assert.rejects(runOnce(store, "$e", "charge", () => ++runs), (e: unknown) => e instanceof OnceInterruptedError && e.eventId === "$e" && e.key === "charge");
      assert.equal(runs, 1);
      await store.close();
    });

    test(`keeps the most recent ${EFFECTS_KEPT} records`, async () => {
      const store = make();
      await store.open();
      const total = EFFECTS_KEPT + 500;
      for (let i = 1; i <= total; i++) await store.setEffect(`$${i}`, "k", `{"done":true,"value":${i}}`);
      assert.equal(await store.getEffect("$1", "k"), undefined);
      assert.equal(await store.getEffect(`$${total}`, "k"), `{"done":true,"value":${total}}`);
      assert.equal(await store.getEffect(`$${total - EFFECTS_KEPT + 1}`, "k"), `{"done":true,"value":${total - EFFECTS_KEPT + 1}}`);
      await store.setEffect(`$${total}`, "k", undefined);
      assert.equal(await store.getEffect(`$${total}`, "k"), undefined);
      await store.close();
    });
  });
}

test("SqliteStore: a stored result survives a restart; fn is not run again", async () => {
  const path = join(dir, "restart.db");
  let runs = 0;
  const first = new SqliteStore(path);
  await first.open();
  assert.equal(await runOnce(first, "$e", "mail", () => `sent-${++runs}`), "sent-1");
  await first.close();
  const second = new SqliteStore(path);
  await second.open();
  assert.equal(await runOnce(second, "$e", "mail", () => `sent-${++runs}`), "sent-1");
  assert.equal(runs, 1);
  await second.close();
});
