/**
 * An appservice bot: the same commands as a syncing bot, pushed by the
 * homeserver, plus users of its own namespace that it speaks as.
 *
 * ```sh
 * npx niobot appservice registration --url http://127.0.0.1:9000 --server-name localhost -o registration.yaml
 * npx niobot dev-server start --appservice registration.yaml      # or add it to your Synapse's app_service_config_files
 * MATRIX_HOMESERVER=http://127.0.0.1:8008 MATRIX_USER_ID=@niobot:localhost \
 *   APPSERVICE_REGISTRATION=registration.yaml STORE_PATH=appservice.db npx tsx examples/appservice.ts
 * ```
 *
 * Invite `@niobot:localhost` to a room, then:
 * - `!ping`: answered by the bot;
 * - `!puppet <name> <text...>`: the virtual user `@_niobot_<name>` joins and says the text;
 * - `!dm <name>`: the virtual user `@_niobot_<name>` opens a direct chat with you.
 *
 * Importing this file runs nothing: tests use {@link createAppserviceBot}.
 */
import type { AppserviceRegistration } from "../src/appservice/registration.js";
import { NioBot, type NioBotOptions } from "../src/bot/bot.js";
import { EnvError, isMain, runMain } from "./env.js";

/** Builds the example from environment variables, or a registration given directly (tests). */
export function createAppserviceBot(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Partial<NioBotOptions> & { registration?: AppserviceRegistration } = {},
): NioBot {
  const { registration: given, ...options } = overrides;
  const homeserver = env.MATRIX_HOMESERVER;
  const userId = env.MATRIX_USER_ID;
  const registration = given ?? env.APPSERVICE_REGISTRATION;
  const missing = [homeserver ? "" : "MATRIX_HOMESERVER", userId ? "" : "MATRIX_USER_ID", registration ? "" : "APPSERVICE_REGISTRATION"].filter(Boolean);
  if (missing.length > 0) throw new EnvError(`set ${missing.join(", ")}`);
  const bot = new NioBot({
    homeserver: homeserver!,
    userId: userId!,
    storePath: env.STORE_PATH,
    appservice: { registration: registration! },
    ...options,
  });
  const server = bot.userId.slice(bot.userId.indexOf(":") + 1);
  // Names become localparts: keep them to what a localpart may hold.
  const virtual = (name: string): string => `@_${bot.appservice.registration.id}_${name.toLowerCase().replace(/[^a-z0-9._=-]/g, "_").slice(0, 64)}:${server}`;

  bot.command("ping", (ctx) => ctx.respond(`Pong! ${ctx.latency}ms`));

  bot.command("puppet", { args: "<name:string> <text...>", description: "A virtual user joins and says the text." }, async (ctx, { name, text }) => {
    const puppet = await bot.as(virtual(name), { displayName: `${name} (puppet)` });
    // The bot invites it (it is in the room; the puppet may not be allowed to join on its own).
    await bot.api.rooms.invite(ctx.room.roomId, puppet.userId).catch(() => undefined);
    await puppet.join(ctx.room.roomId);
    await puppet.sendMessage(ctx.room.roomId, text);
  });

  bot.command("dm", { args: "<name:string>", description: "A virtual user opens a direct chat with you." }, async (ctx, { name }) => {
    const puppet = await bot.as(virtual(name), { displayName: `${name} (puppet)` });
    await puppet.sendMessage(ctx.sender, `Hello ${ctx.sender}, this is ${name}.`);
    await ctx.respond(`${name} sent you a direct message.`);
  });
  return bot;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    await createAppserviceBot().start();
  });
}
