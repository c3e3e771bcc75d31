import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { DeadlineLane } from "../../src/util/deadlines.js";

describe("DeadlineLane", () => {
  // The lane's timer is unreferenced (a deadline keeps no process alive): the test keeps it alive.
  let keepAlive: NodeJS.Timeout | undefined;
  beforeEach(() => void (keepAlive = setInterval(() => undefined, 1_000)));
  afterEach(() => clearInterval(keepAlive));

  test("fires the deadlines that came, in order, never a cancelled one, and re-arms for the rest", async () => {
    let clock = 0;
    const lane = new DeadlineLane(5, () => clock);
    const fired: string[] = [];
    let wake: () => void = () => undefined;
    const next = (): Promise<void> => new Promise((resolve) => (wake = resolve));
    const mark = (name: string) => () => {
      fired.push(name);
      wake();
    };
    const a = lane.after(mark("a"));
    lane.after(mark("b"));
    clock = 2;
    lane.after(mark("c"));
    a.cancel();
    a.cancel();
    assert.equal(lane.size, 2);
    // b is due (at 5), c (at 7) not yet: the timer fires b and waits again for c.
    clock = 5;
    await next();
    assert.deepEqual(fired, ["b"]);
    assert.equal(lane.size, 1);
    clock = 7;
    await next();
    assert.deepEqual(fired, ["b", "c"]);
    assert.equal(lane.size, 0);
    // A later deadline arms the timer again.
    lane.after(mark("d"));
    clock = 20;
    await next();
    assert.deepEqual(fired, ["b", "c", "d"]);
  });

  test("a deadline whose head was cancelled is still reached; clear drops everything", async () => {
    let clock = 0;
    const lane = new DeadlineLane(3, () => clock);
    const fired: string[] = [];
    let wake: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (wake = resolve));
    lane.after(() => fired.push("head")).cancel();
    clock = 1;
    lane.after(() => {
      fired.push("second");
      wake();
    });
    clock = 10;
    await done;
    assert.deepEqual(fired, ["second"]);
    lane.after(() => fired.push("cleared"));
    lane.clear();
    assert.equal(lane.size, 0);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(fired, ["second"]);
  });
});
