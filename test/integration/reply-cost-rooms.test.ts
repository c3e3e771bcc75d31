/**
 * A reply's cost does not grow with the rooms the bot is in, against the real Synapse: from the
 * `!ping` in the sync answer to the reply sent (router, checks, context, compose, send, the
 * sync position saved), nothing walks the bot's room map or its account data. Counted, not
 * timed. The bot sits in one real room with the human; 2000 more rooms are put into its room
 * tracker as a first sync would (creating 2000 rooms in Synapse takes minutes), so a walk over
 * the rooms would cost what it costs a bot in 2000 rooms; the counters do not depend on it.
 * The batch side (engine, tracker, store) is covered by test/unit/sync-batch-cost.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newBot, newTestUser } from "../helpers/matrix.js";

/** Counts every walk over a map (values, keys, entries, forEach, spread or for-of). */
function countWalks(map: Map<string, unknown>): { walks: number; where: string[] } {
  const counter = { walks: 0, where: [] as string[] };
  for (const name of ["values", "keys", "entries", "forEach", Symbol.iterator] as const) {
    const original = (map as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>)[name]!;
    Object.defineProperty(map, name, {
      configurable: true,
      value: (...args: unknown[]) => {
        counter.walks++;
        if (counter.where.length < 3) counter.where.push(new Error("walk").stack?.split("\n").slice(2, 6).join(" | ") ?? "");
        return original.apply(map, args);
      },
    });
  }
  return counter;
}

describe("a reply in a bot of many rooms", () => {
  test("!ping to pong: no walk over the room map or the account data, whatever the number of rooms", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false });
    bot.command("ping", async (ctx) => void (await ctx.respond("pong")));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createRoom([bot.userId]);
      const deadline = Date.now() + 20_000;
      while (bot.getRoom(roomId)?.membership !== "join") {
        if (Date.now() > deadline) throw new Error("the bot did not join");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The rooms of a bot in 2000 rooms, as its first sync leaves them (membership, creation, power levels).
      for (let i = 0; i < 2000; i++) {
        const room = bot.rooms.ensureRoom(`!padding${i}:localhost`, "join");
        bot.rooms.applyState(room, { type: "m.room.member", state_key: bot.userId, sender: bot.userId, event_id: `$m${i}`, origin_server_ts: 1, content: { membership: "join" } });
        bot.rooms.applyState(room, { type: "m.room.power_levels", state_key: "", sender: bot.userId, event_id: `$p${i}`, origin_server_ts: 1, content: { users: { [bot.userId]: 100 } } });
      }
      const rooms = countWalks(bot.rooms.rooms as Map<string, unknown>);
      const accountData = countWalks(bot.rooms.accountData as Map<string, unknown>);
      for (let n = 0; n < 3; n++) {
        const ping = await human.send(roomId, "!ping");
        await human.waitForEvent((e) => e.sender === bot.userId && (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === ping);
      }
      assert.equal(rooms.walks, 0, `walks over the room map: ${rooms.where.join("\n")}`);
      assert.equal(accountData.walks, 0, `walks over the account data: ${accountData.where.join("\n")}`);
    } finally {
      await bot.stop();
    }
  });
});
