/**
 * A simple bot, ported from NioBot's "a simple bot" guide.
 *
 * ```sh
 * npm ci
 * MATRIX_HOMESERVER=https://matrix.example.org MATRIX_USER_ID=@bot:example.org \
 *   MATRIX_PASSWORD=... npx tsx examples/simple.ts
 * ```
 *
 * Commands: `!ping`, `!echo <text...>`, `!wave <user>`, `!add <a> <b>`, `!help`.
 * Importing this file runs nothing: tests use {@link createBot}.
 */
import { NioBot, type NioBotOptions } from "../src/bot/bot.js";
import { CommandError, CommandParserError } from "../src/commands/errors.js";
import { mentionPill, neutralizeMentions } from "../src/content/mentions.js";
import { botFromEnv, isMain, runMain, type ExampleBot } from "./env.js";

/** A configured (not started) bot and the credentials to start it with. */
export type SimpleBot = ExampleBot;

/** A member's display name in a room: from synced state, else one state lookup, else the ID. */
async function displayName(bot: NioBot, roomId: string, userId: string): Promise<string> {
  const known = bot.getRoom(roomId)?.member(userId)?.displayName;
  if (known !== undefined) return known;
  try {
    // Members are lazy-loaded, so someone who hasn't spoken lately may not be in our state yet.
    const content = (await bot.api.rooms.getState(roomId, "m.room.member", userId)) as { displayname?: unknown };
    return typeof content.displayname === "string" && content.displayname !== "" ? content.displayname : userId;
  } catch {
    return userId;
  }
}

/**
 * Builds the example bot from environment variables (see `examples/env.ts`).
 *
 * @param overrides - extra bot options, e.g. a quiet logger in tests.
 */
export function createBot(env: Readonly<Record<string, string | undefined>> = process.env, overrides: Partial<NioBotOptions> = {}): SimpleBot {
  const example = botFromEnv(env, overrides, "simple bot");
  const { bot } = example;

  bot.command("ping", { description: "Shows the latency between your message and the bot." }, async (ctx) => {
    await ctx.respond(`Pong! ${ctx.latency}ms`);
  });

  bot.command("echo", { args: "<text...>", description: "Repeats what you said." }, async (ctx, { text }) => {
    // Plain and neutralised: echoing "@room" must not ping the room, nor markdown a link.
    await ctx.respond(neutralizeMentions(text), { format: "plain" });
  });

  bot.command("wave", { args: "<user:user>", description: "Waves to someone." }, async (ctx, { user }) => {
    const pill = mentionPill(user, neutralizeMentions(await displayName(bot, ctx.room.roomId, user)));
    await ctx.respond(`👋 ${pill.html}`, { format: "html" });
  });

  bot.command("add", { args: "<a:int> <b:int>", description: "Adds two whole numbers." }, async (ctx, { a, b }) => {
    await ctx.respond(`${a} + ${b} = ${a + b}`);
  });

  // Taking over error replies: command errors are meant for the sender; anything else is a bug,
  // which the bot has already logged with its stack.
  bot.on("commandError", async (ctx, error) => {
    let text = error instanceof CommandError ? error.message : "Sorry, something went wrong (internal error).";
    // Argument mistakes are easier to fix with the usage in front of you.
    if (error instanceof CommandParserError) text += `\nUsage: ${ctx.usage}`;
    await ctx.respond(`⚠️ ${neutralizeMentions(text)}`, { format: "plain" });
  });

  return example;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { bot, credentials } = createBot();
    await bot.start(credentials);
  });
}
