/**
 * The request cost of a reply with the documented default configuration (`storePath`: SQLite,
 * encryption on) in unencrypted rooms: the reply and the sync, nothing more. Encryption
 * tracking must cost nothing there, even while the users in those rooms add devices (which
 * Synapse reports in every bot's `device_lists.changed`).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import { countingFetch, homeserver, newBot, newTestUser, tempStorePath, type TestUser } from "../helpers/matrix.js";

/** Requests other than `/sync`, by endpoint. */
function nonSync(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].filter(([key]) => key !== "GET /_matrix/client/v3/sync").sort());
}

describe("request cost with the default store", () => {
  test("a reply in an unencrypted room costs one PUT: no /keys/query, /sendToDevice or state lookups, even as users add devices", async () => {
    const counter = countingFetch();
    const bodies: string[] = [];
    const fetch: FetchLike = (input, init) => {
      if (new URL(input).pathname.endsWith("/keys/query") && typeof init.body === "string") bodies.push(init.body);
      return counter.fetch(input, init);
    };
    const { bot, account } = await newBot({ storePath: tempStorePath(), fetch });
    assert.equal(bot.encryptionEnabled, true, "the default store turns encryption on");
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start({ password: account.password });
    const humans: TestUser[] = [];
    const rooms: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const human = await newTestUser(`cost${i}`);
        humans.push(human);
        rooms.push(await human.createRoom([bot.userId]));
      }
      const ping = async (i: number): Promise<void> => {
        const human = humans[i]!;
        const id = await human.send(rooms[i]!, "!ping");
        await human.waitForEvent((e) => e.sender === bot.userId && (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === id);
      };
      // Warm up: the joins and the first message of each room are not per-reply cost.
      for (let i = 0; i < humans.length; i++) await ping(i);

      counter.reset();
      bodies.length = 0;
      const hs = await homeserver();
      const rounds = 4;
      // A long poll that ends empty after 30 s is one more sync, however slow the machine is.
      const polls = (since: number): number => Math.ceil((performance.now() - since) / 30_000);
      let phase = performance.now();
      for (let round = 0; round < rounds; round++) {
        // Each user logs in a new device: Synapse lists them in the bot's device_lists.changed.
        for (const human of humans) await new MatrixApi({ baseUrl: hs.baseUrl }).account.loginWithPassword(human.userId, human.account.password);
        for (let i = 0; i < humans.length; i++) await ping(i);
      }
      const replies = rounds * humans.length;
      assert.deepEqual(
        nonSync(counter.counts),
        { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": replies },
        `unexpected requests for ${replies} replies; keys/query bodies: ${bodies.join(" | ")}`,
      );
      // Each ping ends one long poll and the reply's echo at most one more; each new device of a
      // member may end one (Synapse wakes the bot for device list changes). Anything that wakes the
      // bot on its own (its key uploads, a sync per send, a short timeout) shows up beyond that.
      const logins = rounds * humans.length;
      const syncs = counter.counts.get("GET /_matrix/client/v3/sync") ?? 0;
      const idle = polls(phase);
      assert.ok(syncs <= 2 * replies + logins + idle, `${syncs} syncs for ${replies} replies, ${logins} new devices and ${idle} long poll periods`);

      // Without new devices: at most two syncs per reply.
      counter.reset();
      phase = performance.now();
      for (let round = 0; round < rounds; round++) for (let i = 0; i < humans.length; i++) await ping(i);
      const quietIdle = polls(phase);
      const quiet = counter.counts.get("GET /_matrix/client/v3/sync") ?? 0;
      assert.deepEqual(nonSync(counter.counts), { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": replies });
      assert.ok(quiet <= 2 * replies + quietIdle, `${quiet} syncs for ${replies} replies and ${quietIdle} long poll periods`);
      console.log(`syncs: ${syncs} for ${replies} replies and ${logins} new devices; ${quiet} for ${replies} replies without`);
    } finally {
      await bot.stop();
    }
  });
});
