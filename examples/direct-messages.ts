/**
 * Direct messages, ported from NioBot's DM example: the bot finds (or creates)
 * a private room with a user from their user ID alone.
 *
 * ```sh
 * npm ci
 * MATRIX_HOMESERVER=https://matrix.example.org MATRIX_USER_ID=@bot:example.org \
 *   MATRIX_PASSWORD=... npx tsx examples/direct-messages.ts
 * ```
 *
 * Commands: `!dm`, `!get-dm-rooms`, `!create-dm-room`, `!help`. Configured like
 * every example (see `examples/env.ts`). Importing this file runs nothing:
 * tests use {@link createDmBot}.
 */
import type { NioBotOptions } from "../src/bot/bot.js";
import { botFromEnv, isMain, runMain, type ExampleBot } from "./env.js";

/** A configured (not started) bot and the credentials to start it with. */
export type DmExampleBot = ExampleBot;

/** A matrix.to link to a room. */
function roomLink(roomId: string): string {
  return `https://matrix.to/#/${roomId}`;
}

/**
 * Builds the example bot from environment variables (see `examples/env.ts`).
 *
 * @param overrides - extra bot options, e.g. a quiet logger in tests.
 */
export function createDmBot(env: Readonly<Record<string, string | undefined>> = process.env, overrides: Partial<NioBotOptions> = {}): DmExampleBot {
  const example = botFromEnv(env, overrides, "direct messages bot");
  const { bot } = example;

  bot.command("dm", { description: "Sends you a direct message!" }, async (ctx) => {
    // A user ID as the target: the bot picks a valid DM room with them, or creates one.
    await bot.sendMessage(ctx.sender, "Hello, world!");
  });

  bot.command("get-dm-rooms", { description: "Lists your direct rooms with the bot." }, async (ctx) => {
    const rooms = await bot.getDmRooms(ctx.sender);
    if (rooms.length === 0) {
      await ctx.respond("You don't have any direct rooms!");
      return;
    }
    await ctx.respond(`Your ${rooms.length} direct rooms:\n${rooms.map((id) => `* ${roomLink(id)}`).join("\n")}`);
  });

  bot.command("create-dm-room", { description: "Creates a new direct room with you." }, async (ctx) => {
    const { roomId } = await bot.createDmRoom(ctx.sender);
    await ctx.respond(`Created direct room: ${roomLink(roomId)}`);
  });

  return example;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { bot, credentials } = createDmBot();
    await bot.start(credentials);
  });
}
