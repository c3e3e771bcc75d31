/**
 * The command framework against a real homeserver: a human account sends commands and the test
 * reads back the bot's exact reply events.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import {
  clientHasPower,
  command,
  CommandError,
  defineCommand,
  defineModule,
  isDm,
  isOwner,
  listener,
  senderHasPower,
  signature,
  type ArgsOf,
  type CommandContext,
} from "../../src/commands/index.js";
import { neutralizeMentions } from "../../src/content/mentions.js";
import type { MessageEvent } from "../../src/api/events.js";
import type { Room } from "../../src/sync/room.js";
import { newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

function relatesTo(e: ClientEvent): Record<string, unknown> | undefined {
  const rel = e.content["m.relates_to"];
  return typeof rel === "object" && rel !== null ? (rel as Record<string, unknown>) : undefined;
}

function inReplyTo(e: ClientEvent): string | undefined {
  const target = relatesTo(e)?.["m.in_reply_to"] as { event_id?: unknown } | undefined;
  return typeof target?.event_id === "string" ? target.event_id : undefined;
}

class Dice {
  readonly sides = 6;
  rolls = 0;

  @command("roll", { args: "[n:int=1]", description: "Rolls dice." })
  roll(ctx: CommandContext, { n }: ArgsOf<"[n:int=1]">): Promise<unknown> {
    this.rolls++;
    return ctx.respond(`rolled ${n}d${this.sides}`, { format: "plain" });
  }

  @listener("message")
  watch(_room: Room, event: MessageEvent): void {
    if (event.content.body === "dice?") this.rolls += 100;
  }
}

describe("commands", () => {
  let human: TestUser;
  let other: TestUser;
  let bot: NioBot;
  let botId: string;
  let roomId: string;
  const errors: unknown[] = [];

  /** Sends `body` (with extra content) and waits for the bot's reply to it. */
  async function ask(body: string, extra: Record<string, unknown> = {}, from: TestUser = human): Promise<ClientEvent> {
    const id = await from.send(roomId, body, extra);
    return from.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
  }

  /** Sends a sentinel `!ping`, waits for its answer, then asserts `eventId` got no reply. */
  async function assertNoReply(eventId: string): Promise<void> {
    await ask("!ping");
    await human.syncOnce(300);
    assert.equal(human.seen.find((e) => e.sender === botId && inReplyTo(e) === eventId), undefined, "the bot must not answer");
  }

  before(async () => {
    human = await newTestUser("human");
    other = await newTestUser("other");
    const made = await newBot({ ownerId: "@nobody:localhost" });
    bot = made.bot;
    botId = bot.userId;
    bot.on("error", (error) => void errors.push(error));

    bot.command("ping", (ctx) => ctx.respond(`Pong! ${ctx.latency}ms`));
    bot.command("echo", { args: "<text...>", description: "Repeats text." }, (ctx, { text }) =>
      ctx.respond(neutralizeMentions(text), { format: "plain" }),
    );
    const addArgs = signature("<a:int> <b:int>", { descriptions: { a: "the first number", b: "the second number" } });
    bot.command("add", { args: addArgs, aliases: ["plus"], description: "Adds two numbers.\nBoth must be whole numbers." }, (ctx, { a, b }) =>
      ctx.respond(`${a + b}`),
    );
    bot.command("secret", { checks: [isOwner()], description: "Owner only." }, (ctx) => ctx.respond("secret"));
    bot.command("mod", { checks: [senderHasPower(50)], description: "Moderators only." }, (ctx) => ctx.respond("moderated"));
    bot.command("botpower", { checks: [clientHasPower(50)], description: "Needs a powerful bot." }, (ctx) => ctx.respond("ok"));
    bot.command("dmonly", { checks: [isDm()], description: "Only in a DM." }, (ctx) => ctx.respond("dm ok"));
    bot.command("limited", { cooldown: { uses: 1, windowMs: 60_000 }, description: "Once a minute." }, (ctx) => ctx.respond("ran"));
    bot.command("boom", { description: "Always fails." }, () => {
      throw new Error("kaboom");
    });
    bot.command("sneaky", { hidden: true }, (ctx) => ctx.respond("sneaky"));
    bot.command("off", { disabled: true, description: "Disabled." }, (ctx) => ctx.respond("off"));
    bot.command("weird", { description: '<b>bold</b> @room & <a href="https://matrix.to/#/@x:localhost">x</a>' }, (ctx) => ctx.respond("weird"));
    bot.command("progress", async (ctx) => {
      const msg = await ctx.respond("Counting…");
      await msg.edit("Counted: 3");
      const note = await msg.reply("(temporary note)", { format: "plain" });
      await note.delete("cleanup");
    });
    bot.command("quiz", async (ctx) => {
      await ctx.respond("What is 2 + 2?");
      const answer = await bot.waitForMessage({ room: ctx.room, sender: ctx.sender, timeoutMs: 15_000 });
      await ctx.respond(answer.content.body.trim() === "4" ? "Correct!" : "Wrong!");
    });

    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([botId, other.userId]);
    await joined;
    await other.api.rooms.join(roomId);
  });

  after(async () => {
    await bot.stop();
  });

  test("ping: one reply to the invoking event, mentioning the sender", async () => {
    const id = await human.send(roomId, "!ping");
    const reply = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
    assert.equal(reply.type, "m.room.message");
    assert.equal(reply.content.msgtype, "m.notice");
    assert.match(String(reply.content.body), /^Pong! \d+ms$/);
    assert.deepEqual(relatesTo(reply), { "m.in_reply_to": { event_id: id } });
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("prefix and name are case-insensitive; arguments keep their case", async () => {
    assert.match(String((await ask("!PING")).content.body), /^Pong!/);
    assert.equal((await ask("!Echo HeLLo World")).content.body, "HeLLo World");
  });

  test("echo neutralises @room and user mentions", async () => {
    const reply = await ask(`!echo hi @room and ${other.userId}`);
    assert.equal(reply.content.body, `hi @\u2060r\u2060oom and ${neutralizeMentions(other.userId)}`);
    assert.equal(reply.content.formatted_body, undefined);
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("add, and its alias", async () => {
    assert.equal((await ask("!add 2 40")).content.body, "42");
    assert.equal((await ask("!plus -1 1")).content.body, "0");
  });

  test("argument errors: wrong type, missing, too many, unterminated quote", async () => {
    const wrong = await ask("!add 1 x");
    assert.equal(wrong.content.body, 'Argument "b": expected an integer, got "x"');
    assert.equal(wrong.content.msgtype, "m.notice");
    assert.deepEqual(wrong.content["m.mentions"], { user_ids: [human.userId] });
    assert.equal((await ask("!add 1")).content.body, 'Missing required argument "b". Usage: !add <a> <b>');
    assert.equal((await ask("!add 1 2 3")).content.body, "Too many arguments (expected at most 2, got 3). Usage: !add <a> <b>");
    assert.match(String((await ask('!add "1 2')).content.body), /^Unterminated quote " starting at position 0/);
  });

  test("a failing input quoted back cannot ping", async () => {
    const reply = await ask("!add @room 1");
    assert.equal(reply.content.body, 'Argument "a": expected an integer, got "@\u2060r\u2060oom"');
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("check failures: owner, sender power, bot power, direct room", async () => {
    assert.equal((await ask("!secret")).content.body, "Only the bot's owner can use this command.");
    assert.equal((await ask("!mod")).content.body, "moderated", "the room creator has power 100 (or infinite in v12)");
    assert.equal((await ask("!mod", {}, other)).content.body, "You need power level 50 to use this command (you have 0).");
    assert.equal((await ask("!botpower")).content.body, "I need power level 50 in this room to do that (I have 0).");
    assert.equal((await ask("!dmonly")).content.body, "This command can only be used in a direct message with the bot.");
    assert.equal((await ask("!off")).content.body, 'The command "off" is currently disabled.');
  });

  test("isDm passes in a direct room", async () => {
    const joined = bot.waitForEvent("join", (r) => r.roomId !== roomId, 20_000);
    const dmRoom = await human.createRoom([botId], { is_direct: true });
    await joined;
    const id = await human.send(dmRoom, "!dmonly");
    const reply = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
    assert.equal(reply.content.body, "dm ok");
  });

  test("cooldown: the second use within the window gets the time left", async () => {
    assert.equal((await ask("!limited")).content.body, "ran");
    assert.match(String((await ask("!limited")).content.body), /^This command is on cooldown\. Try again in (1m|5\ds)\.$/);
    assert.equal((await ask("!limited", {}, other)).content.body, "ran", "buckets are per user");
  });

  test("help lists what the sender can run, escaped, with empty m.mentions", async () => {
    const reply = await ask("!help");
    const body = String(reply.content.body);
    const lines = body.split("\n");
    assert.equal(lines[0], "Commands you can use:");
    assert.ok(lines.includes("!add <a> <b> — Adds two numbers."), body);
    assert.ok(lines.includes("!echo <text...> — Repeats text."), body);
    assert.ok(lines.includes("!ping"), body);
    assert.ok(lines.includes("!mod — Moderators only."), body);
    for (const hidden of ["!secret", "!sneaky", "!off", "!botpower", "!dmonly"]) {
      assert.ok(!lines.some((l) => l.startsWith(hidden)), `${hidden} must not be listed`);
    }
    assert.deepEqual(reply.content["m.mentions"], {});
    assert.deepEqual(relatesTo(reply), { "m.in_reply_to": { event_id: inReplyTo(reply) } });
    const html = String(reply.content.formatted_body);
    assert.match(html, /<li><code>!add &lt;a&gt; &lt;b&gt;<\/code> — Adds two numbers\.<\/li>/);
    assert.ok(html.includes("&lt;b&gt;bold&lt;/b&gt; @\u2060r\u2060oom &amp; &lt;a href="), html);
    assert.ok(!html.includes('<a href="https://matrix.to/#/@x'), "no injected pill");

    const asOther = String((await ask("!help", {}, other)).content.body).split("\n");
    assert.ok(!asOther.some((l) => l.startsWith("!mod")), "the other user lacks power for !mod");
  });

  test("help <command>: usage, full description, aliases, arguments", async () => {
    const reply = await ask("!help plus");
    assert.equal(
      reply.content.body,
      [
        "!add <a> <b>",
        "Adds two numbers.",
        "Both must be whole numbers.",
        "Aliases: !plus",
        "Arguments:",
        "• a (an integer): the first number",
        "• b (an integer): the second number",
      ].join("\n"),
    );
    assert.deepEqual(reply.content["m.mentions"], {});
    assert.equal((await ask("!help sneaky")).content.body, 'No command named "sneaky".');
    assert.equal((await ask("!help @room")).content.body, 'No command named "@\u2060r\u2060oom".');
  });

  test("the bot's mention works as a prefix: plain user ID and pill", async () => {
    assert.match(String((await ask(`${botId}: ping`)).content.body), /^Pong!/);
    const name = bot.getRoom(roomId)?.member(botId)?.displayName ?? botId;
    const pill = await ask(`${name}: add 1 2`, {
      format: "org.matrix.custom.html",
      formatted_body: `<a href="https://matrix.to/#/${botId}">${name}</a>: add 1 2`,
      "m.mentions": { user_ids: [botId] },
    });
    assert.equal(pill.content.body, "3");
  });

  test("a reply runs only its own text, never the quoted fallback", async () => {
    const original = await human.send(roomId, "!echo original");
    await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === original);
    const thanks = await human.send(roomId, `> <${human.userId}> !echo original\n\nthanks!`, {
      format: "org.matrix.custom.html",
      formatted_body: `<mx-reply><blockquote>!echo original</blockquote></mx-reply>thanks!`,
      "m.relates_to": { "m.in_reply_to": { event_id: original } },
    });
    const answered = await ask(`> <${human.userId}> thanks!\n\n!add 2 3`, { "m.relates_to": { "m.in_reply_to": { event_id: thanks } } });
    assert.equal(answered.content.body, "5");
    await assertNoReply(thanks);
  });

  test("an edit does not run the command again", async () => {
    const id = await human.send(roomId, "!add 1 1");
    assert.equal((await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id)).content.body, "2");
    const edit = await human.send(roomId, "* !add 5 5", {
      "m.new_content": { msgtype: "m.text", body: "!add 5 5" },
      "m.relates_to": { rel_type: "m.replace", event_id: id },
    });
    await assertNoReply(edit);
    assert.ok(!human.seen.some((e) => e.sender === botId && e.content.body === "10"));
  });

  test("a command in a thread is answered in the thread", async () => {
    const root = await human.send(roomId, "thread root");
    const id = await human.send(roomId, "!ping", {
      "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } },
    });
    const reply = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
    assert.deepEqual(relatesTo(reply), { rel_type: "m.thread", event_id: root, "m.in_reply_to": { event_id: id }, is_falling_back: false });
  });

  test("ctx.respond returns a response that can be edited, replied to and deleted", async () => {
    const id = await human.send(roomId, "!progress");
    const first = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
    assert.equal(first.content.body, "Counting…");
    const edit = await human.waitForEvent((e) => e.sender === botId && relatesTo(e)?.rel_type === "m.replace" && relatesTo(e)?.event_id === first.event_id);
    assert.equal(edit.content.body, "* Counted: 3");
    const newContent = edit.content["m.new_content"] as Record<string, unknown>;
    assert.equal(newContent.body, "Counted: 3");
    assert.deepEqual(newContent["m.mentions"], { user_ids: [human.userId] });
    assert.deepEqual(edit.content["m.mentions"], {}, "an edit doesn't notify again");
    const note = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === first.event_id);
    assert.equal(note.content.body, "(temporary note)");
    assert.deepEqual(note.content["m.mentions"], {}, "replying to itself mentions nobody");
    const redaction = await human.waitForEvent((e) => e.type === "m.room.redaction" && (e.content.redacts ?? (e as { redacts?: unknown }).redacts) === note.event_id);
    assert.equal(redaction.content.reason, "cleanup");
  });

  test("a conversation: the command asks, waitForMessage gets the answer", async () => {
    const id = await human.send(roomId, "!quiz");
    const question = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id);
    assert.equal(question.content.body, "What is 2 + 2?");
    await other.send(roomId, "5"); // someone else answering doesn't count
    await human.send(roomId, "4");
    const verdict = await human.waitForEvent((e) => e.sender === botId && inReplyTo(e) === id && e.content.body !== "What is 2 + 2?");
    assert.equal(verdict.content.body, "Correct!");
  });

  test("a handler that throws gets the default reply, the error is reported, and the bot keeps going", async () => {
    const before = errors.length;
    const reply = await ask("!boom");
    assert.equal(reply.content.body, "Something went wrong while running this command (internal error).");
    assert.equal(errors.length, before + 1);
    assert.equal((errors.at(-1) as Error).message, "kaboom");
    assert.match(String((await ask("!ping")).content.body), /^Pong!/);
  });

  test("events: command then exactly one outcome; listeners take over the replies", async () => {
    const seen: string[] = [];
    // Only commands that started while these listeners were on: the previous test's last
    // command may still be completing (its reply is out before `commandComplete` fires).
    const mine = new Set<string>();
    const note = (ctx: CommandContext, what: string): void => {
      if (mine.has(ctx.message.event_id)) seen.push(what);
    };
    const offs = [
      bot.on("command", (ctx) => {
        mine.add(ctx.message.event_id);
        seen.push(`command:${ctx.command.name}`);
      }),
      bot.on("commandComplete", (ctx) => note(ctx, `complete:${ctx.command.name}`)),
      bot.on("commandError", async (ctx, error) => {
        note(ctx, `error:${ctx.command.name}`);
        await ctx.respond(`custom: ${error instanceof CommandError ? error.message : "bug"}`, { format: "plain" });
      }),
      bot.on("commandCancelled", async (ctx, reason) => {
        note(ctx, `cancelled:${ctx.command.name}:${reason.name}`);
        await ctx.respond(`nope (${reason instanceof CommandError ? reason.name : "?"})`, { format: "plain" });
      }),
    ];
    try {
      await ask("!ping");
      assert.equal((await ask("!add 1 x")).content.body, 'custom: Argument "b": expected an integer, got "x"');
      assert.equal((await ask("!secret")).content.body, "nope (NotOwner)");
      assert.deepEqual(seen, ["command:ping", "complete:ping", "command:add", "error:add", "command:secret", "cancelled:secret:NotOwner"]);
    } finally {
      for (const off of offs) off();
    }
  });

  test("global checks run before every command", async () => {
    const remove = bot.addCheck(function notOther(ctx) {
      return ctx.sender !== other.userId;
    });
    try {
      assert.equal((await ask("!add 1 1", {}, other)).content.body, "You can't use this command here.");
      assert.equal((await ask("!add 1 1")).content.body, "2");
    } finally {
      remove();
    }
    assert.equal((await ask("!add 1 1", {}, other)).content.body, "2");
  });

  test("a plain-object module: mounted, then unmounted (command and listener gone)", async () => {
    let heard = 0;
    const mod = defineModule({
      name: "counter",
      commands: [defineCommand("modcmd", (ctx) => ctx.respond("from module"))],
      listeners: {
        message: (_room, event) => {
          if (event.content.body === "count me") heard++;
        },
      },
    });
    const mounted = await bot.mount(mod);
    assert.deepEqual(mounted.commands.map((c) => c.name), ["modcmd"]);
    assert.equal((await ask("!modcmd")).content.body, "from module");
    await human.send(roomId, "count me");
    await ask("!ping");
    assert.equal(heard, 1);

    assert.equal(await bot.unmount(mod), true);
    assert.equal(bot.commands.has("modcmd"), false);
    const gone = await human.send(roomId, "!modcmd");
    await human.send(roomId, "count me");
    await assertNoReply(gone);
    assert.equal(heard, 1, "the listener was removed");
  });

  test("a decorated class module, and a module loaded from a file", async () => {
    const dice = new Dice();
    await bot.mount(dice);
    assert.equal((await ask("!roll 3")).content.body, "rolled 3d6");
    assert.equal((await ask("!roll")).content.body, "rolled 1d6");
    await human.send(roomId, "dice?");
    await ask("!ping");
    assert.equal(dice.rolls, 102);
    await bot.unmount("Dice");
    assert.equal(bot.commands.has("roll"), false);

    const loaded = await bot.loadModule(fileURLToPath(new URL("../fixtures/greeter-module.ts", import.meta.url)));
    assert.equal(loaded.name, "greeter");
    assert.equal((await ask("!greet World")).content.body, "Hello, World!");
    await bot.unmount("greeter");
    assert.equal(bot.commands.has("greet"), false);
  });

  test("malformed events and the bot's own messages are skipped without breaking anything", async () => {
    // Synapse refuses a non-string body or msgtype from clients (federation may still bring
    // one: the unit tests cover that); these malformed shapes it accepts.
    const badHtml = await human.send(roomId, "!ping", { format: "org.matrix.custom.html", formatted_body: 7 });
    const badRel = await human.send(roomId, "!ping", { "m.relates_to": "nope" });
    await assertNoReply(badHtml);
    await assertNoReply(badRel);
    const own = await bot.sendMessage(roomId, "!ping", { msgtype: "m.text", format: "plain" });
    await assertNoReply(own);
    assert.equal(errors.length, 1, "only !boom's error was ever reported");
  });
});
