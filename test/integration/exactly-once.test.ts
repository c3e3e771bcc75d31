/**
 * A handler run twice for one event (what a restart after a crash does) against the real
 * Synapse: what it sends through its context reaches the room once, in plain and encrypted
 * rooms, and `ctx.once` does not repeat its effect.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MessageEvent } from "../../src/api/events.js";
import { CommandContext } from "../../src/commands/context.js";
import { MEGOLM } from "../helpers/e2ee-human.js";
import { newBot, newTestUser, tempStorePath } from "../helpers/matrix.js";

async function waitUntil(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a handler replayed for the same event", () => {
  for (const encrypted of [false, true]) {
    test(`${encrypted ? "encrypted" : "plain"} room: respond, edit, react, send, reply and delete reach the room once; ctx.once runs once`, async () => {
      const human = await newTestUser();
      const { bot, account } = await newBot({ storePath: tempStorePath() });
      await bot.start({ password: account.password });
      try {
        const roomId = await human.createRoom([bot.userId], encrypted ? { initial_state: [MEGOLM] } : {});
        await waitUntil(() => bot.getRoom(roomId)?.membership === "join" && bot.getRoom(roomId)?.isEncrypted === encrypted);
        const commandId = await human.send(roomId, "!work");
        const message = (await bot.fetchMessage(roomId, commandId)) as MessageEvent;
        const command = bot.command("work", () => undefined);
        let effects = 0;
        // One run of a handler, with a fresh context as a restarted bot would build it.
        const run = async (): Promise<string[]> => {
          const room = bot.getRoom(roomId);
          assert.ok(room);
          const ctx = new CommandContext(bot, room, message, command, {
            prefix: "!",
            mention: false,
            invokedWith: "work",
            argumentText: "",
            formattedBody: undefined,
            replyTo: { eventId: message.event_id, sender: message.sender },
          });
          const answer = await ctx.respond("working…");
          await answer.edit("done");
          const reaction = await ctx.react("👍");
          const note = await ctx.send(roomId, "a note");
          const aside = await answer.reply("an aside");
          await aside.delete("cleanup");
          const value = await ctx.once("count", () => ++effects);
          return [answer.eventId, reaction, note, aside.eventId, String(value)];
        };
        const first = await run();
        const replay = await run();
        assert.deepEqual(replay, first, "the replay gets the first run's event ids and stored result");
        assert.equal(effects, 1);
        // Outside a context nothing is deduplicated: two sends are two events.
        assert.notEqual(await bot.sendMessage(roomId, "outside"), await bot.sendMessage(roomId, "outside"));

        const { chunk } = await human.api.sync.messages(roomId, { dir: "b", limit: 100 });
        const fromBot = chunk.filter((e) => e.sender === bot.userId && e.state_key === undefined);
        const types = fromBot.map((e) => e.type).sort();
        // Redactions are never encrypted (the server must read them).
        const sent = encrypted ? [...Array<string>(5).fill("m.room.encrypted"), "m.room.redaction"] : ["m.reaction", ...Array<string>(4).fill("m.room.message"), "m.room.redaction"];
        const outside = encrypted ? ["m.room.encrypted", "m.room.encrypted"] : ["m.room.message", "m.room.message"];
        assert.deepEqual(types, [...sent, ...outside].sort(), "answer, edit, reaction, note, aside and its redaction once each, plus the two outside sends");
      } finally {
        await bot.stop();
      }
    });
  }
});
