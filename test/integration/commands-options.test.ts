/**
 * Command options against a real homeserver (RegExp prefix, case-sensitive names, commands on
 * edit, no help command) and the request cost of handling one command.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import { countingFetch, newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

function inReplyTo(e: ClientEvent): string | undefined {
  const rel = e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

describe("command options and cost", () => {
  let human: TestUser;
  let bot: NioBot;
  let roomId: string;
  const counter = countingFetch();

  async function ask(body: string, extra: Record<string, unknown> = {}): Promise<ClientEvent> {
    const id = await human.send(roomId, body, extra);
    return human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === id);
  }

  before(async () => {
    human = await newTestUser("human");
    const made = await newBot({
      fetch: counter.fetch,
      commandPrefix: /\?|bot,\s*/,
      caseInsensitiveCommands: false,
      commandsOnEdit: true,
      helpCommand: false,
    });
    bot = made.bot;
    bot.command("ping", (ctx) => ctx.respond(`Pong! ${ctx.latency}ms`));
    bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(`${a + b}`));
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId]);
    await joined;
  });

  after(async () => {
    await bot.stop();
  });

  test("handling one command costs exactly one PUT send: no typing, no receipt, no extra GETs", async () => {
    await ask("?ping"); // warm up: first-message work (if any) is not per-command cost
    counter.reset();
    await ask("?ping");
    await human.syncOnce(500);
    const sends = [...counter.counts].filter(([key]) => key.startsWith("PUT ") && key.includes("/send/m.room.message/"));
    const other = [...counter.counts].filter(([key]) => !key.includes("/send/m.room.message/") && key !== "GET /_matrix/client/v3/sync");
    assert.deepEqual(sends.map(([, n]) => n), [1]);
    assert.deepEqual(other, [], `unexpected requests: ${JSON.stringify(other)}`);
  });

  test("a RegExp prefix, case-sensitive names, no help command", async () => {
    assert.equal((await ask("bot, add 2 2")).content.body, "4");
    const upper = await human.send(roomId, "?PING");
    const bang = await human.send(roomId, "!ping");
    const help = await human.send(roomId, "?help");
    await ask("?ping");
    await human.syncOnce(300);
    for (const id of [upper, bang, help]) {
      assert.equal(human.seen.find((e) => e.sender === bot.userId && inReplyTo(e) === id), undefined);
    }
  });

  test("commandsOnEdit: an edit runs the new text, answering the original message", async () => {
    const id = await human.send(roomId, "?add 1 1");
    await human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === id && e.content.body === "2");
    await human.send(roomId, "* ?add 5 5", {
      "m.new_content": { msgtype: "m.text", body: "?add 5 5" },
      "m.relates_to": { rel_type: "m.replace", event_id: id },
    });
    const rerun = await human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === id && e.content.body === "10");
    assert.deepEqual(rerun.content["m.mentions"], { user_ids: [human.userId] });
  });
});
