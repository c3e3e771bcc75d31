/**
 * `niobot/testing` against the real homeserver: a bot with a few commands,
 * people who talk to it in DMs, threads and replies, react, edit, send files,
 * and see it type; failed expectations print the room's transcript.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Attachment, NioBot, silentLogger } from "../../src/index.js";
import { inReplyToOf, startTestHomeserver, threadRootOf, type TestBotAccount, type TestHomeserver } from "../../src/testing/index.js";

/** The kind of factory a bot author writes. */
function createMyBot(account: TestBotAccount): NioBot {
  const bot = new NioBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger });
  bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(String(a + b)));
  bot.command("slow", async (ctx) => {
    await bot.typing(ctx.room.roomId, () => new Promise((r) => setTimeout(r, 1_500)));
    await ctx.respond("done");
  });
  bot.command("like", (ctx) => bot.react(ctx.room.roomId, ctx.message.event_id, "👍"));
  bot.command("count", async (ctx) => {
    const msg = await ctx.respond("1");
    await msg.edit("2");
  });
  bot.command("file", (ctx) => bot.sendAttachment(ctx.room.roomId, Attachment.fromBytes(new TextEncoder().encode("a,b\n1,2\n"), { filename: "t.csv", mimetype: "text/csv" })));
  bot.on("reaction", async (room, event, key) => {
    if (event.sender !== bot.userId) await bot.sendMessage(room.roomId, `saw ${key}`);
  });
  bot.on("message", async (room, event) => {
    if (event.sender === bot.userId || !["m.file", "m.image"].includes(String(event.content.msgtype))) return;
    const bytes = await bot.media.download((event.content.file ?? event.content.url) as string);
    await bot.sendMessage(room.roomId, `got ${event.content.body} (${bytes.bytes.length} bytes)`);
  });
  return bot;
}

describe("niobot/testing", () => {
  let hs: TestHomeserver;
  let bot: NioBot;

  before(async () => {
    hs = await startTestHomeserver();
    const account = await hs.botAccount();
    bot = createMyBot(account);
    await bot.start({ password: account.password });
  });

  after(async () => {
    await bot.stop();
    await hs.stop();
  });

  test("a DM: say, expectReply, expectNoReply, and the bot's m.direct", async () => {
    const started = Date.now();
    const alice = await hs.user("alice");
    console.log(`# test person ready in ${Date.now() - started} ms`);
    const room = await alice.dm(bot.userId);
    await alice.say(room, "!add 2 3");
    const reply = await alice.expectReply(room, /^5$/);
    assert.equal(reply.sender, bot.userId);
    await alice.say(room, "just chatting");
    await alice.expectNoReply(room, 1_000);
    const direct = await hs.accountData(bot.userId, "m.direct");
    assert.deepEqual(direct?.[alice.userId], [room]);
    assert.equal((await alice.roomState(room, "m.room.create"))?.creator ?? alice.userId, alice.userId);
  });

  test("a failed expectation throws a plain Error with the room's transcript", async () => {
    const bob = await hs.user("bob");
    const room = await bob.createRoom({ invite: [bot.userId] });
    await bob.say(room, "!add 2 2");
    await assert.rejects(bob.expectReply(room, /^5$/), (error: Error) => {
      assert.equal(error.constructor, Error);
      assert.match(error.message, /expected a reply matching \/\^5\$\/, got "4"/);
      assert.match(error.message, new RegExp(`${bob.userId.replace(/[.$]/g, "\\$&")} \\S+: m\\.text "!add 2 2"`));
      return true;
    });
    await bob.say(room, "nothing to answer");
    await assert.rejects(bob.expectReply(room, undefined, { timeoutMs: 500 }), /waited 500 ms for a reply\n.*room !/s);
    await bob.say(room, "!add 1 1");
    await assert.rejects(bob.expectNoReply(room, 1_500), /expected no reply for 1500 ms/);
  });

  test("threads, replies, reactions, edits and typing", async () => {
    const carol = await hs.user("carol");
    const room = await carol.createRoom({ invite: [bot.userId] });
    const root = await carol.say(room, "a thread root");
    await carol.say(room, "!add 1 2", { thread: root });
    const inThread = await carol.expectReply(room, "3");
    assert.equal(threadRootOf(inThread), root);

    const question = await carol.say(room, "!add 10 1");
    const answer = await carol.expectReply(room, "11");
    const replyId = await carol.say(room, "!add 4 4", { replyTo: answer });
    assert.notEqual(replyId, question);
    assert.equal(inReplyToOf((await carol.expectReply(room, "8")) as never) === undefined, false);

    const like = await carol.say(room, "!like");
    const reaction = await carol.expectReaction(room, "👍", { to: like });
    assert.equal(reaction.sender, bot.userId);
    await carol.react(room, like, "🎉");
    await carol.expectReply(room, "saw 🎉");

    await carol.say(room, "!count");
    await carol.expectReply(room, "1");
    await carol.expectEdit(room, "2");

    await carol.say(room, "!slow");
    await carol.expectTyping(room, { from: bot.userId });
    await carol.expectReply(room, "done");
  });

  test("files, both ways", async () => {
    const dan = await hs.user("dan");
    const room = await dan.dm(bot.userId);
    await dan.sendFile(room, { bytes: new TextEncoder().encode("hello"), filename: "hi.txt", mimetype: "text/plain" });
    await dan.expectReply(room, "got hi.txt (5 bytes)");
    await dan.say(room, "!file");
    const file = await dan.expectFile(room);
    assert.equal(new TextDecoder().decode(await dan.download(file)), "a,b\n1,2\n");
  });
});

describe("niobot/testing with end-to-end encryption", () => {
  let hs: TestHomeserver;
  let bot: NioBot;

  before(async () => {
    hs = await startTestHomeserver();
    const account = await hs.botAccount("e2ee-bot");
    bot = new NioBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger, encryption: true });
    bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(String(a + b)));
    await bot.start({ password: account.password });
  });

  after(async () => {
    await bot.stop();
    await hs.stop();
  });

  test("an encrypted person's DM is encrypted on the wire, and both sides read each other", async () => {
    const started = Date.now();
    const erin = await hs.user("erin", { encrypted: true });
    const userMs = Date.now() - started;
    const room = await erin.dm(bot.userId);
    assert.deepEqual(await erin.roomState(room, "m.room.encryption"), { algorithm: "m.megolm.v1.aes-sha2" });
    const asked = await erin.say(room, "!add 20 22");
    const reply = await erin.expectReply(room, /^42$/);
    assert.equal(inReplyToOf(reply), asked);
    const wire = await erin.client.api.rooms.event(room, reply.event_id);
    assert.equal(wire.type, "m.room.encrypted");
    console.log(`# encrypted test person ready in ${userMs} ms`);
  });
});
