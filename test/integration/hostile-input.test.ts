/**
 * Issue 11, finding 1, end to end: one hostile formatted message must not freeze the bot.
 * A user sends the 7 KB payload that used to block the event loop for seconds, then `!ping`;
 * the ping is answered within a second (server timestamps, so only the bot's delay counts).
 * The test process is shared with many others on a small machine, so a descheduled bot can be
 * late without working: the bound holds on the bot's delay or, failing that, on the CPU this
 * process spent from the hostile message to the reply. A backtracking parser is slow in both.
 * Written with `niobot/testing`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NioBot } from "../../src/bot/bot.js";
import { silentLogger } from "../../src/logging/logger.js";
import { startTestHomeserver, type TestHomeserver, type TestPerson } from "../../src/testing/index.js";

describe("hostile formatted_body", () => {
  let hs: TestHomeserver;
  let human: TestPerson;
  let bot: NioBot;
  let roomId: string;

  before(async () => {
    hs = await startTestHomeserver();
    const account = await hs.botAccount();
    bot = new NioBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger });
    bot.command("ping", (ctx) => ctx.respond("pong", { format: "plain" }));
    await bot.start({ password: account.password });
    human = await hs.user("human");
    roomId = await human.createRoom({ invite: [bot.userId] });
  });

  after(async () => {
    await bot.stop();
    await hs.stop();
  });

  test("a ping right after the 7 KB '<a href=\"'×800 message is answered within a second", async () => {
    // A first ping pays the one-time costs (room state, first send), which are not at issue here.
    await human.say(roomId, "!ping");
    await human.expectReply(roomId, /^pong$/, { timeoutMs: 60_000 });

    const hostile = '<a href="'.repeat(800);
    assert.equal(hostile.length, 7_200);
    const cpuBefore = process.cpuUsage();
    await human.say(roomId, "hello", { content: { format: "org.matrix.custom.html", formatted_body: hostile } });
    const pingId = await human.say(roomId, "!ping");
    const reply = await human.expectReply(roomId, /^pong$/, { timeoutMs: 60_000 });
    const used = process.cpuUsage(cpuBefore);
    const cpuMs = (used.user + used.system) / 1000;
    const ping = human.events(roomId).find((s) => s.event.event_id === pingId)?.event;
    assert.ok(ping !== undefined);
    const delay = reply.origin_server_ts - ping.origin_server_ts;
    assert.ok(Math.min(delay, cpuMs) < 1_000, `the ping was answered after ${delay} ms, with ${cpuMs.toFixed(0)} ms of CPU`);
  });
});
