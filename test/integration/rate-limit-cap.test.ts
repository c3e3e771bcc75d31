/**
 * Rate-limit waits are capped (issue 11, finding 11): a 429 asking for a huge wait surfaces its
 * MatrixError at once instead of holding the request (and the room's send queue) for days, or,
 * above 2^31-1 ms, being retried after 1 ms because a Node timer cannot hold that long. The 429s
 * are injected in front of the real Synapse; everything else reaches it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { MatrixError } from "../../src/api/errors.js";
import { faultyFetch, type FaultRule } from "../helpers/faults.js";
import { homeserver, newBot, newTestUser } from "../helpers/matrix.js";

const limited = (retryAfterMs: number): FaultRule["fault"] => ({
  kind: "status",
  status: 429,
  body: { errcode: "M_LIMIT_EXCEEDED", error: "Too Many Requests", retry_after_ms: retryAfterMs },
});

async function setup(rules: FaultRule[], extra: { maxRateLimitWaitMs?: number } = {}) {
  const hs = await homeserver();
  const human = await newTestUser();
  const roomId = await human.createRoom();
  const faults = faultyFetch(rules);
  const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.account.accessToken, fetch: faults.fetch, ...extra });
  const sends = () => faults.log.filter((r) => r.method === "PUT" && r.path.includes("/send/")).length;
  return { human, roomId, api, faults, sends };
}

const isLimit = (retryAfterMs: number) => (e: unknown) =>
  e instanceof MatrixError && e.status === 429 && e.errcode === "M_LIMIT_EXCEEDED" && e.retryAfterMs === retryAfterMs;

describe("rate-limit waits are capped", { timeout: 60_000 }, () => {
  test("retry_after_ms beyond what a timer holds (2^31 ms) surfaces the 429 instead of retrying after 1 ms", async () => {
    const { api, roomId, sends } = await setup([{ method: "PUT", path: /\/send\//, times: 1, fault: limited(2 ** 31) }]);
    await assert.rejects(api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "never" }), isLimit(2 ** 31));
    assert.equal(sends(), 1, "no retry was made");
  });

  test("a wait of an hour (default cap 10 minutes) or a Retry-After of a day surfaces the 429 promptly", async () => {
    const { api, roomId, sends } = await setup([
      { method: "PUT", path: /\/send\//, times: 1, fault: limited(3_600_000) },
      { method: "PUT", path: /\/send\//, times: 1, fault: { kind: "status", status: 429, body: { errcode: "M_LIMIT_EXCEEDED" }, headers: { "retry-after": "86400" } } },
    ]);
    const started = Date.now();
    await assert.rejects(api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "a" }), isLimit(3_600_000));
    await assert.rejects(api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "b" }), isLimit(86_400_000));
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.equal(sends(), 2);
  });

  test("a wait within a configured cap is waited out; one past it is not", async () => {
    const { api, roomId, human, sends } = await setup(
      [
        { method: "PUT", path: /\/send\/m\.room\.message\//, times: 1, fault: limited(150) },
        { method: "PUT", path: /\/send\/org\.example\.other\//, times: 1, fault: limited(5_000) },
      ],
      { maxRateLimitWaitMs: 1_000 },
    );
    const { event_id } = await api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "after a short wait" });
    assert.equal(sends(), 2, "the 150 ms wait was honoured and the send retried");
    await assert.rejects(api.rooms.send(roomId, "org.example.other", { body: "x" }), isLimit(5_000));
    assert.equal(sends(), 3);
    await human.waitForEvent((e) => e.event_id === event_id);
  });

  test("through the bot: the oversized wait fails that one send, and the room's queue goes on", async () => {
    const human = await newTestUser();
    const roomId = await human.createRoom();
    const faults = faultyFetch([{ method: "PUT", path: /\/send\//, times: 1, fault: limited(7 * 24 * 3_600_000) }]);
    const { bot, account } = await newBot({ fetch: faults.fetch });
    await human.api.rooms.invite(roomId, account.userId);
    await bot.start({ password: account.password });
    try {
      await bot.api.rooms.join(roomId);
      const first = bot.sendMessage(roomId, "held for a week?", { format: "plain" });
      const second = bot.sendMessage(roomId, "next in the queue", { format: "plain" });
      await assert.rejects(first, isLimit(7 * 24 * 3_600_000));
      const secondId = await second;
      const seen = await human.waitForEvent((e) => e.event_id === secondId);
      assert.equal(seen.content.body, "next in the queue");
      assert.equal(human.seen.filter((e) => e.content.body === "held for a week?").length, 0);
    } finally {
      await bot.stop();
    }
  });
});
