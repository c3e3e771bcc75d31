/** The niobot side of the benchmark: a bot answering `!ping`. */
import { NioBot } from "../../src/bot/bot.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { countedFetch, serveReports } from "./counters.js";

serveReports();
const bot = new NioBot({
  homeserver: process.env.BENCH_HS ?? "",
  userId: process.env.BENCH_USER ?? "",
  fetch: countedFetch,
  logger: consoleLogger("warn"),
  handleSignals: false,
});
// The framework path a real bot takes: prefix, command lookup, context, reply.
bot.command("ping", async (ctx) => {
  await ctx.respond("pong");
});
await bot.start({ accessToken: process.env.BENCH_TOKEN ?? "" });
process.send?.("ready");
