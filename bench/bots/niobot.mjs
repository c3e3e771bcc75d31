/**
 * niobot answering `!ping`, run from the built package (`npm run build`), as
 * users run it. With BENCH_STORE set it has the documented default store:
 * `storePath` (SQLite), which turns encryption on. Its first run creates the
 * account's cross-signing identity and writes the recovery key to
 * BENCH_RECOVERY; later runs (new devices) join the identity with it.
 */
import { existsSync, readFileSync } from "node:fs";
import { NioBot, consoleLogger } from "niobot";
import { benchEnv, serveReports } from "./report.mjs";

serveReports();
const env = benchEnv();
const recoveryKey = env.storePath && env.recoveryFile && existsSync(env.recoveryFile) ? readFileSync(env.recoveryFile, "utf8").trim() : undefined;
const bot = new NioBot({
  homeserver: env.homeserver,
  userId: env.userId,
  storePath: env.storePath,
  ...(env.storePath ? (recoveryKey ? { recoveryKey } : { recoveryKeyFile: env.recoveryFile, showRecoveryKey: () => undefined }) : {}),
  logger: consoleLogger("warn"),
  handleSignals: false,
});
// The framework path a real bot takes: prefix, command lookup, context, reply.
bot.command("ping", async (ctx) => {
  await ctx.respond("pong");
});
await bot.start({ accessToken: env.accessToken });
