/**
 * A localized bot against a real homeserver: the `messages` option answers an argument error
 * (and the other framework texts) in German; `ctx.userData` keeps a per-user count.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import type { FrameworkMessages } from "../../src/commands/index.js";
import { newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

function inReplyTo(e: ClientEvent): string | undefined {
  const rel = e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

/** The guide's German table (docs/guides/commands.md), in part. */
const types: Record<string, string> = { "an integer": "eine ganze Zahl", "a number": "eine Zahl" };
const german: Partial<FrameworkMessages> = {
  usageHint: ({ usage }) => (usage === "" ? "Dieser Befehl nimmt keine Argumente." : `Aufruf: ${usage}`),
  missingArgument: ({ name, usageHint }) => `Das Argument „${name}“ fehlt. ${usageHint}`,
  argument: ({ name, expected, got, usage }) =>
    `Argument „${name ?? "?"}“: erwartet ${types[expected ?? ""] ?? expected ?? "einen gültigen Wert"}${got === undefined ? "" : `, erhalten ${got}`}. Aufruf: ${usage}`,
  cooldown: ({ duration }) => `Bitte warte noch ${duration}.`,
  helpUnknownCommand: ({ name }) => `Keinen Befehl „${name}“ gefunden.`,
};

describe("localized framework messages", () => {
  let human: TestUser;
  let bot: NioBot;
  let roomId: string;

  async function ask(body: string): Promise<ClientEvent> {
    const id = await human.send(roomId, body);
    return human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === id);
  }

  before(async () => {
    human = await newTestUser("human");
    const made = await newBot({ messages: german });
    bot = made.bot;
    bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(`${a + b}`));
    bot.command("visits", { cooldown: { uses: 3, windowMs: 60_000 } }, async (ctx) => {
      const n = await ctx.userData<number>("visits").update((v = 0) => v + 1);
      return ctx.respond(`Besuch Nummer ${n}`);
    });
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId]);
    await joined;
  });

  after(async () => {
    await bot.stop();
  });

  test("an argument error is answered in German", async () => {
    const reply = await ask("!add 2 drei");
    assert.equal(reply.content.body, "Argument „b“: erwartet eine ganze Zahl, erhalten \"drei\". Aufruf: !add <a> <b>");
  });

  test("a missing argument, an unknown help topic and a cooldown, in German", async () => {
    assert.equal((await ask("!add 2")).content.body, "Das Argument „b“ fehlt. Aufruf: !add <a> <b>");
    assert.equal((await ask("!help nix")).content.body, "Keinen Befehl „nix“ gefunden.");
    assert.equal((await ask("!visits")).content.body, "Besuch Nummer 1");
    assert.equal((await ask("!visits")).content.body, "Besuch Nummer 2");
    assert.equal((await ask("!visits")).content.body, "Besuch Nummer 3");
    assert.match(String((await ask("!visits")).content.body), /^Bitte warte noch (\d+m|\d+s|\d+m \d+s)\.$/);
    assert.equal(await bot.kv<number>("visits").get(human.userId), 3);
  });

  test("an entry left out keeps its English default (the usage hint inside is German)", async () => {
    assert.equal((await ask("!add 1 2 3")).content.body, "Too many arguments (expected at most 2, got 3). Aufruf: !add <a> <b>");
  });
});
