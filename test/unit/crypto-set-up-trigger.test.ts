/**
 * When the crypto layer's one-time set-up may start (`src/crypto/set-up-trigger.ts`): once the
 * loop polls again after a batch with news for the handlers (the first answers are out), or once
 * the first long poll has been out for the idle wait without such a batch; never at the initial
 * batch, and a batch with nothing for the handlers (the bot's own device list, key counts) does
 * not count. Timers are node:test's mock timers.
 */
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import type { SyncResponse } from "../../src/api/types.js";
import { SetUpTrigger } from "../../src/crypto/set-up-trigger.js";

const firedYet = async (trigger: SetUpTrigger): Promise<boolean> => {
  let fired = false;
  void trigger.fired.then(() => (fired = true));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return fired;
};
const ping: SyncResponse = { next_batch: "t2", rooms: { join: { "!r:x": { timeline: { events: [{ event_id: "$p", type: "m.room.message", sender: "@u:x", origin_server_ts: 1, room_id: "!r:x", content: { msgtype: "m.text", body: "!ping" } }] } } } } } as SyncResponse;
const quiet: SyncResponse = { next_batch: "t1", device_lists: { changed: ["@bot:x"] }, rooms: { join: { "!r:x": { timeline: { events: [] } } } } } as SyncResponse;
const invite: SyncResponse = { next_batch: "t3", rooms: { invite: { "!i:x": { invite_state: { events: [] } } } } } as SyncResponse;

describe("SetUpTrigger", () => {
  test("fires when the loop polls again after a batch with news, not before; quiet batches do not count", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const trigger = new SetUpTrigger(500);
      trigger.batch(ping, true);
      assert.equal(await firedYet(trigger), false, "not at the initial batch, even with events");
      trigger.polling();
      assert.equal(await firedYet(trigger), false, "not when the first long poll goes out");
      trigger.batch(quiet, false);
      trigger.polling();
      assert.equal(await firedYet(trigger), false, "not after a batch with nothing for the handlers");
      mock.timers.tick(200);
      trigger.batch(ping, false);
      // The batch is being handled: the idle wait no longer applies.
      mock.timers.tick(10_000);
      assert.equal(await firedYet(trigger), false, "not while the batch with news is handled");
      trigger.polling();
      assert.equal(await firedYet(trigger), true, "once the loop polls again");
    } finally {
      mock.timers.reset();
    }
  });

  test("an invite is news too", async () => {
    const trigger = new SetUpTrigger(60_000);
    trigger.polling();
    trigger.batch(invite, false);
    trigger.polling();
    assert.equal(await firedYet(trigger), true);
    trigger.fire();
  });

  test("the idle wait runs from the first long poll, through quiet batches", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const trigger = new SetUpTrigger(500);
      trigger.batch(quiet, true);
      trigger.polling();
      mock.timers.tick(300);
      trigger.batch(quiet, false);
      trigger.polling();
      mock.timers.tick(199);
      assert.equal(await firedYet(trigger), false);
      mock.timers.tick(1);
      assert.equal(await firedYet(trigger), true);
      // Later polls and batches change nothing.
      trigger.batch(ping, false);
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
