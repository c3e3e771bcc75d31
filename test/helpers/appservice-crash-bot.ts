/**
 * An appservice bot process for the crash-replay test. It answers `!ping`;
 * with `AS_CRASH=1` it kills itself with SIGKILL right after its answer went
 * out, inside the handler, so the transaction is never acknowledged. Prints
 * `READY`, then `HANDLED <event id> <reply id>` per command. Run with tsx;
 * configured by environment variables.
 */
import { NioBot } from "../../src/bot/bot.js";
import { consoleLogger } from "../../src/logging/logger.js";

const env = process.env;
const bot = new NioBot({
  homeserver: env.AS_HOMESERVER!,
  userId: env.AS_USER_ID!,
  storePath: env.AS_STORE!,
  handleSignals: false,
  logger: consoleLogger(env.NIOBOT_LOG_LEVEL === undefined ? "silent" : "debug"),
  appservice: { registration: env.AS_REGISTRATION! },
});
bot.command("ping", async (ctx) => {
  const reply = await ctx.respond("pong");
  process.stdout.write(`HANDLED ${ctx.eventId} ${String(reply)}\n`);
  if (env.AS_CRASH === "1") {
    process.kill(process.pid, "SIGKILL");
    await new Promise(() => undefined);
  }
});
await bot.start();
process.stdout.write("READY\n");
