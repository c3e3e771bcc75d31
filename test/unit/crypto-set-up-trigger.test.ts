/**
 * When the crypto layer's one-time set-up may start (`src/crypto/set-up-trigger.ts`): after the
 * first long poll's batch was handled (the loop's next poll), or once a quiet first long poll has
 * been out for the idle wait, never at the initial batch. Timers are node:test's mock timers.
 */
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import { SetUpTrigger } from "../../src/crypto/set-up-trigger.js";

const firedYet = async (trigger: SetUpTrigger): Promise<boolean> => {
  let fired = false;
  void trigger.fired.then(() => (fired = true));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return fired;
};

describe("SetUpTrigger", () => {
  test("fires when the loop polls again after the first long poll's batch, not before", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const trigger = new SetUpTrigger(500);
      trigger.batch(true);
      assert.equal(await firedYet(trigger), false, "not at the initial batch");
      trigger.polling();
      assert.equal(await firedYet(trigger), false, "not when the first long poll goes out");
      trigger.batch(false);
      // The batch is being handled: the idle wait no longer applies.
      mock.timers.tick(10_000);
      assert.equal(await firedYet(trigger), false, "not while the first long poll's batch is handled");
      trigger.polling();
      assert.equal(await firedYet(trigger), true, "once the loop polls again");
    } finally {
      mock.timers.reset();
    }
  });

  test("a quiet first long poll starts the set-up after the idle wait", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const trigger = new SetUpTrigger(500);
      trigger.batch(true);
      trigger.polling();
      mock.timers.tick(499);
      assert.equal(await firedYet(trigger), false);
      mock.timers.tick(1);
      assert.equal(await firedYet(trigger), true);
      // Later polls and batches change nothing.
      trigger.batch(false);
      trigger.polling();
      assert.equal(await firedYet(trigger), true);
    } finally {
      mock.timers.reset();
    }
  });

  test("fire() opens it at once, once", async () => {
    const trigger = new SetUpTrigger(60_000);
    trigger.fire();
    trigger.fire();
    assert.equal(await firedYet(trigger), true);
  });
});
