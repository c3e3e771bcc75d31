/**
 * Issue 11, finding 1, end to end: one hostile formatted message must not freeze the bot.
 * A user sends the 7 KB payload that used to block the event loop for seconds, then `!ping`;
 * the ping is answered within a second (server timestamps, so only the bot's delay counts).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import { newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

function inReplyTo(e: ClientEvent): string | undefined {
  const rel = e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

describe("hostile formatted_body", () => {
  let human: TestUser;
  let bot: NioBot;
  let roomId: string;

  before(async () => {
    human = await newTestUser("human");
    const made = await newBot();
    bot = made.bot;
    bot.command("ping", (ctx) => ctx.respond("pong", { format: "plain" }));
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId]);
    await joined;
  });

  after(async () => {
    await bot.stop();
  });

  test("a ping right after the 7 KB '<a href=\"'×800 message is answered within a second", async () => {
    // A first ping pays the one-time costs (room state, first send), which are not at issue here.
    const warmId = await human.send(roomId, "!ping");
    await human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === warmId, 60_000);

    const hostile = '<a href="'.repeat(800);
    assert.equal(hostile.length, 7_200);
    await human.send(roomId, "hello", { format: "org.matrix.custom.html", formatted_body: hostile });
    const pingId = await human.send(roomId, "!ping");
    const reply = await human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === pingId, 60_000);
    const ping = human.seen.find((e) => e.event_id === pingId);
    assert.ok(ping !== undefined);
    assert.equal(reply.content.body, "pong");
    const delay = reply.origin_server_ts - ping.origin_server_ts;
    assert.ok(delay < 1_000, `the ping was answered after ${delay} ms`);
  });
});
