import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { HandlerScheduler, handlerSignal, parked } from "../../src/sync/scheduler.js";
import { SendSequence, scopedTxnId } from "../../src/delivery/txn.js";

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const never = new AbortController().signal;

describe("HandlerScheduler", () => {
  test("a batch of 100 rooms × 50 events: never more than the limit at once, each room in order", async () => {
    const scheduler = new HandlerScheduler(32);
    let running = 0;
    let peak = 0;
    const order = new Map<string, number[]>();
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++)
      for (let r = 0; r < 100; r++) {
        const room = `!r${r}`;
        all.push(
          scheduler.run(room, async () => {
            running++;
            peak = Math.max(peak, running);
            order.set(room, [...(order.get(room) ?? []), i]);
            await tick();
            running--;
          }, never),
        );
      }
    await Promise.all(all);
    assert.equal(peak, 32, "the limit is reached and never exceeded");
    for (const seen of order.values()) assert.deepEqual(seen, [...Array(50).keys()]);
    assert.equal(scheduler.running, 0);
    assert.equal(scheduler.queued, 0);
  });

  test("property: any mix of rooms and durations keeps the limit and each room's order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 3 })), { maxLength: 60 }), async (limit, jobs) => {
        const scheduler = new HandlerScheduler(limit);
        let running = 0;
        let peak = 0;
        const started = new Map<number, number[]>();
        await Promise.all(
          jobs.map(([room, ticks], index) =>
            scheduler.run(`!${room}`, async () => {
              running++;
              peak = Math.max(peak, running);
              started.set(room, [...(started.get(room) ?? []), index]);
              for (let t = 0; t < ticks; t++) await tick();
              running--;
            }, never),
          ),
        );
        assert.ok(peak <= limit);
        for (const indexes of started.values()) assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b));
      }),
      { numRuns: 200 },
    );
  });

  test("one room runs one at a time: the next event waits for the previous handler", async () => {
    const scheduler = new HandlerScheduler(8);
    const log: string[] = [];
    let release!: () => void;
    const first = scheduler.run("!a", async () => {
      log.push("first start");
      await new Promise<void>((resolve) => (release = resolve));
      log.push("first end");
    }, never);
    const second = scheduler.run("!a", async () => void log.push("second"), never);
    await tick();
    assert.deepEqual(log, ["first start"]);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(log, ["first start", "first end", "second"]);
  });

  test("a parked handler lets the event it waits for run, even with a limit of one (no deadlock)", async () => {
    const scheduler = new HandlerScheduler(1);
    let answer!: (text: string) => void;
    const question = scheduler.run("!a", async () => {
      // What bot.waitForEvent does: park while waiting for a later event.
      const text = await parked(new Promise<string>((resolve) => (answer = resolve)));
      return `got ${text}`;
    }, never);
    const reply = scheduler.run("!a", async () => answer("blue"), never);
    assert.equal(await question, "got blue");
    await reply;
  });

  test("handlerSignal is the signal of the running handler, and undefined outside one", async () => {
    const scheduler = new HandlerScheduler(2);
    const controller = new AbortController();
    assert.equal(handlerSignal(), undefined);
    const seen = await scheduler.run("!a", async () => {
      await tick();
      return handlerSignal();
    }, controller.signal);
    assert.equal(seen, controller.signal);
  });

  test("a send scope keeps its handler's signal; work started from inside it gets no send scope of its own", async () => {
    const scheduler = new HandlerScheduler(1);
    const a = new AbortController().signal;
    const b = new AbortController().signal;
    const seen = await scheduler.run("!a", (slot) =>
      new SendSequence("$a").run(async () => {
        const inA = { signal: handlerSignal(), txn: scopedTxnId() };
        // The limit is 1: !b waits, and this release starts it at once, inside $a's send scope.
        const other = scheduler.run("!b", async () => ({ signal: handlerSignal(), txn: scopedTxnId() }), b);
        slot.release();
        return { inA, inB: await other };
      }), a);
    assert.equal(seen.inA.signal, a);
    assert.ok(seen.inA.txn?.startsWith("nbe"));
    assert.equal(seen.inB.signal, b);
    // Its sends are its own: random ids (a handler numbers its sends through its own context).
    assert.equal(seen.inB.txn, undefined);
  });

  test("idle: no work running or queued; parked work does not count, and onIdle tells when it becomes so", async () => {
    let idleCalls = 0;
    const scheduler = new HandlerScheduler(1, () => idleCalls++);
    assert.equal(scheduler.idle, true);
    let finish!: () => void;
    const busy = scheduler.run("!a", () => new Promise<void>((resolve) => (finish = resolve)), never);
    const waiting = scheduler.run("!b", async () => parked(new Promise<void>(() => undefined)), never);
    assert.equal(scheduler.idle, false);
    finish();
    await busy;
    await tick();
    // The work of !b has started and parked: nothing holds a slot although it never finishes.
    assert.equal(scheduler.idle, true);
    assert.ok(idleCalls >= 1);
    void waiting;
  });

  test("a handler that throws synchronously rejects its run and frees its slot", async () => {
    const scheduler = new HandlerScheduler(1);
    await assert.rejects(scheduler.run("!a", () => { throw new Error("boom"); }, never), /boom/);
    assert.equal(await scheduler.run("!a", async () => 7, never), 7);
    assert.throws(() => new HandlerScheduler(0), RangeError);
  });
});
