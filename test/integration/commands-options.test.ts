/**
 * Command options against a real homeserver (RegExp prefix, case-sensitive names, commands on
 * edit, no help command) and the request cost of handling one command. Written with `niobot/testing`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NioBot } from "../../src/bot/bot.js";
import { silentLogger } from "../../src/logging/logger.js";
import { inReplyToOf, startTestHomeserver, type TestHomeserver, type TestPerson } from "../../src/testing/index.js";
import { countingFetch } from "../helpers/matrix.js";

describe("command options and cost", () => {
  let hs: TestHomeserver;
  let human: TestPerson;
  let bot: NioBot;
  let roomId: string;
  const counter = countingFetch();

  before(async () => {
    hs = await startTestHomeserver();
    const account = await hs.botAccount();
    bot = new NioBot({
      homeserver: account.homeserver,
      userId: account.userId,
      handleSignals: false,
      logger: silentLogger,
      fetch: counter.fetch,
      commandPrefix: /\?|bot,\s*/,
      caseInsensitiveCommands: false,
      commandsOnEdit: true,
      helpCommand: false,
    });
    bot.command("ping", (ctx) => ctx.respond(`Pong! ${ctx.latency}ms`));
    bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(`${a + b}`));
    await bot.start({ password: account.password });
    human = await hs.user("human");
    roomId = await human.createRoom({ invite: [bot.userId] });
  });

  after(async () => {
    await bot.stop();
    await hs.stop();
  });

  test("handling one command costs exactly one PUT send: no typing, no receipt, no extra GETs", async () => {
    await human.say(roomId, "?ping"); // warm up: first-message work (if any) is not per-command cost
    await human.expectReply(roomId, /^Pong!/);
    counter.reset();
    await human.say(roomId, "?ping");
    await human.expectReply(roomId, /^Pong!/);
    await human.expectNoReply(roomId, 500);
    const sends = [...counter.counts].filter(([key]) => key.startsWith("PUT ") && key.includes("/send/m.room.message/"));
    const other = [...counter.counts].filter(([key]) => !key.includes("/send/m.room.message/") && key !== "GET /_matrix/client/v3/sync");
    assert.deepEqual(sends.map(([, n]) => n), [1]);
    assert.deepEqual(other, [], `unexpected requests: ${JSON.stringify(other)}`);
  });

  test("a RegExp prefix, case-sensitive names, no help command", async () => {
    await human.say(roomId, "bot, add 2 2");
    await human.expectReply(roomId, /^4$/);
    const ignored = [await human.say(roomId, "?PING"), await human.say(roomId, "!ping"), await human.say(roomId, "?help")];
    const ping = await human.say(roomId, "?ping");
    assert.equal(inReplyToOf(await human.expectReply(roomId, /^Pong!/)), ping);
    await human.expectNoReply(roomId, 300);
    for (const id of ignored)
      assert.equal(human.events(roomId).find((s) => s.event.sender === bot.userId && inReplyToOf(s.event) === id), undefined, human.transcript(roomId));
  });

  test("commandsOnEdit: an edit runs the new text, answering the original message", async () => {
    const id = await human.say(roomId, "?add 1 1");
    await human.expectReply(roomId, /^2$/);
    await human.edit(roomId, id, "?add 5 5");
    const rerun = await human.expectReply(roomId, /^10$/);
    assert.equal(inReplyToOf(rerun), id);
    assert.deepEqual(rerun.content["m.mentions"], { user_ids: [human.userId] });
  });
});
