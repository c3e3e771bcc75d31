/**
 * Start-up order without encryption: nothing blocks the first `/sync` that can run beside it.
 * With a given access token the whoami check goes out together with the first sync (the floor
 * bot sends only the sync), and the first batch and `ready` still wait for the check, so a
 * token of another user or a rejected one never handles an event. Against the real Synapse, the
 * requests recorded by a wrapping `fetch` that holds whoami's answer back.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import { LoginError } from "../../src/bot/login.js";
import { newBot } from "../helpers/matrix.js";

/** Endpoint of a request, without ids or query. */
const endpoint = (input: string, init: RequestInit): string => `${init.method ?? "GET"} ${new URL(input).pathname.replace(/^\/_matrix\/client\/v3/, "")}`;

describe("start-up order without a store", () => {
  test("whoami runs beside the first sync; the first batch and ready wait for its answer", async () => {
    const log: string[] = [];
    let syncAnswered!: () => void;
    const firstSyncAnswered = new Promise<void>((resolve) => (syncAnswered = resolve));
    const fetch: FetchLike = async (input, init) => {
      const name = endpoint(input, init);
      log.push(`sent ${name}`);
      if (name === "GET /account/whoami") {
        // Held until the first sync has been answered: with whoami before the sync, that never
        // happens, and the wait ends unmet (recorded, and the test fails below).
        await Promise.race([firstSyncAnswered, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        const response = await globalThis.fetch(input, init);
        log.push(`answered ${name}`);
        return response;
      }
      const response = await globalThis.fetch(input, init);
      if (name === "GET /sync") syncAnswered();
      log.push(`answered ${name}`);
      return response;
    };
    const { bot, account } = await newBot({ fetch });
    bot.on("ready", () => void log.push("ready"));
    await bot.start({ accessToken: account.accessToken });
    try {
      const beforeReady = log.slice(0, log.indexOf("ready"));
      // (The long poll after the first batch may go out before `ready` is emitted.)
      assert.deepEqual(
        [...new Set(beforeReady.filter((entry) => entry.startsWith("sent")))].sort(),
        ["sent GET /account/whoami", "sent GET /sync"],
        `only the check and syncs go out before ready (no versions, filter upload, media config): ${log.join(", ")}`,
      );
      assert.deepEqual(log.slice(0, 2).sort(), ["sent GET /account/whoami", "sent GET /sync"], "the check and the first sync go out together");
      assert.ok(log.indexOf("answered GET /sync") < log.indexOf("answered GET /account/whoami"), `the first sync did not wait for whoami: ${log.join(", ")}`);
      assert.ok(log.indexOf("answered GET /account/whoami") < log.indexOf("ready"), "ready waits for the check");
      assert.equal(bot.deviceId, account.deviceId, "the device comes from the check");
    } finally {
      await bot.stop();
    }
  });

  test("a token of another user, or a rejected one, fails the start with a LoginError, and nothing is handled", async () => {
    const { account: other } = await newBot();
    const { bot } = await newBot();
    const handled: string[] = [];
    const errors: unknown[] = [];
    bot.on("event", (_room, event) => void handled.push(event.event_id));
    bot.on("error", (error) => void errors.push(error));
    await assert.rejects(bot.start({ accessToken: other.accessToken }), (error: unknown) => error instanceof LoginError && /belongs to/.test((error as Error).message));
    assert.equal(bot.running, false);
    assert.deepEqual(handled, []);
    assert.deepEqual(errors, []);

    const { bot: refused } = await newBot();
    const refusedErrors: unknown[] = [];
    refused.on("error", (error) => void refusedErrors.push(error));
    await assert.rejects(refused.start({ accessToken: "syt_not_a_token" }), LoginError);
    assert.equal(refused.running, false);
    assert.deepEqual(refusedErrors, [], "a refused first sync is not reported beside the failed check");
  });
});
