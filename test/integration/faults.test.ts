import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { MatrixError, MatrixNetworkError } from "../../src/api/errors.js";
import { faultyFetch } from "../helpers/faults.js";
import { homeserver, newTestUser } from "../helpers/matrix.js";

const fast = { initialBackoffMs: 20, maxBackoffMs: 100, defaultRateLimitMs: 50 };

async function setup(rules: Parameters<typeof faultyFetch>[0]) {
  const hs = await homeserver();
  const human = await newTestUser();
  const roomId = await human.createRoom();
  const faults = faultyFetch(rules);
  const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.account.accessToken, fetch: faults.fetch, ...fast });
  return { human, roomId, api, faults };
}

describe("transport faults in front of a real Synapse", () => {
  test("a lost response to a send is retried with the same transaction id: one event, not two", async () => {
    const { human, roomId, api, faults } = await setup([{ method: "PUT", path: /\/send\//, times: 2, fault: { kind: "dropAfter" } }]);
    const { event_id } = await api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "exactly once" });
    assert.equal(faults.log.filter((r) => r.method === "PUT").length, 3);
    const sends = new Set(faults.log.filter((r) => r.method === "PUT").map((r) => r.path));
    assert.equal(sends.size, 1, "every retry used the same transaction id");
    await human.waitForEvent((e) => e.event_id === event_id);
    await human.syncOnce();
    assert.equal(human.seen.filter((e) => e.content.body === "exactly once").length, 1);
  });

  test("429 with retry_after_ms and with a Retry-After header are waited out, for POST too", async () => {
    const { api, faults } = await setup([
      { method: "POST", path: /\/createRoom$/, times: 1, fault: { kind: "status", status: 429, body: { errcode: "M_LIMIT_EXCEEDED", error: "slow down", retry_after_ms: 120 } } },
      { method: "POST", path: /\/createRoom$/, times: 1, fault: { kind: "status", status: 429, body: {}, headers: { "retry-after": "0" } } },
    ]);
    const started = Date.now();
    const { room_id } = await api.rooms.create({ preset: "private_chat" });
    assert.match(room_id, /^!/);
    assert.ok(Date.now() - started >= 120, "waited at least retry_after_ms");
    assert.equal(faults.log.filter((r) => r.path.endsWith("/createRoom")).length, 3);
  });

  test("5xx and network failures are retried for GET, not for a POST that is unsafe to repeat", async () => {
    const { api, faults, roomId } = await setup([
      { method: "GET", path: /\/joined_members$/, times: 1, fault: { kind: "status", status: 502 } },
      { method: "GET", path: /\/joined_members$/, times: 1, fault: { kind: "dropBefore" } },
      { method: "POST", path: /\/createRoom$/, times: 1, fault: { kind: "status", status: 503, body: { errcode: "M_UNKNOWN" } } },
      { method: "POST", path: /\/invite$/, times: 1, fault: { kind: "dropBefore" } },
    ]);
    const members = await api.rooms.joinedMembers(roomId);
    assert.equal(Object.keys(members.joined).length, 1);
    assert.equal(faults.log.filter((r) => r.path.endsWith("/joined_members")).length, 3);

    await assert.rejects(api.rooms.create({}), (e: unknown) => e instanceof MatrixError && e.status === 503);
    assert.equal(faults.log.filter((r) => r.path.endsWith("/createRoom")).length, 1);
    await assert.rejects(api.rooms.invite(roomId, "@nobody:localhost"), MatrixNetworkError);
  });

  test("rate-limit retries are bounded", async () => {
    const hs = await homeserver();
    const human = await newTestUser();
    const faults = faultyFetch([{ path: /\/whoami$/, times: 100, fault: { kind: "status", status: 429, body: { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 1 } } }]);
    const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.account.accessToken, fetch: faults.fetch, maxRateLimitRetries: 3 });
    await assert.rejects(api.account.whoami(), (e: unknown) => e instanceof MatrixError && e.errcode === "M_LIMIT_EXCEEDED" && e.retryAfterMs === 1);
    assert.equal(faults.log.length, 4);
  });

  test("an abort signal cancels a request waiting out a rate limit", async () => {
    const hs = await homeserver();
    const human = await newTestUser();
    const faults = faultyFetch([{ path: /\/whoami$/, times: 1, fault: { kind: "status", status: 429, body: { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 60_000 } } }]);
    const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.account.accessToken, fetch: faults.fetch });
    const controller = new AbortController();
    const call = api.account.whoami({ signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(call, (e: unknown) => e instanceof Error && e.name === "AbortError");
    assert.ok(Date.now() - started < 5_000);
  });
});

describe("sync under faults", () => {
  test("sync 5xx and dropped connections are reported through syncError and the bot recovers", async () => {
    const { newBot } = await import("../helpers/matrix.js");
    const rules: Parameters<typeof faultyFetch>[0] = [];
    const faults = faultyFetch(rules);
    const human = await newTestUser();
    const { bot, account } = await newBot({ fetch: faults.fetch, syncTimeoutMs: 1_000 });
    await bot.start({ password: account.password });
    try {
      const joined = bot.waitForEvent("join", undefined, 20_000);
      const roomId = await human.createRoom([account.userId]);
      assert.equal((await joined)[0].roomId, roomId);
      const errors: unknown[] = [];
      bot.on("syncError", (error) => void errors.push(error));
      rules.push(
        { method: "GET", path: /\/sync$/, times: 1, fault: { kind: "status", status: 502 } },
        { method: "GET", path: /\/sync$/, times: 1, fault: { kind: "dropAfter" } },
      );
      const got = bot.waitForEvent("message", (_r, e) => e.content.body === "still there?", 30_000);
      await human.send(roomId, "still there?");
      await got;
      assert.ok(errors.length >= 1, "syncError was emitted");
      assert.equal(rules.every((r) => r.times === 0), true);
    } finally {
      await bot.stop();
    }
  });
});
