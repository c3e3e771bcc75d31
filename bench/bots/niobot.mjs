/* global process */
/**
 * niobot answering `!ping`, run from the built package (`npm run build`), as
 * users run it. With BENCH_STORE set it has the documented default store:
 * `storePath` (SQLite), which turns encryption on; with BENCH_STORE_URL the
 * PostgreSQL store (`storeUrl`), encryption on as well. BENCH_SYNC_MODE=sliding
 * syncs with simplified sliding sync (`syncMode: "sliding"`). BENCH_FETCH=1 sends every request
 * through the global `fetch` (undici) instead of niobot's default `node:http` transport.
 */
import { existsSync, readFileSync } from "node:fs";
import { NioBot, consoleLogger } from "niobot";
import { benchEnv, serveReports, settingUp } from "./report.mjs";

serveReports();
const env = benchEnv();
const bot = new NioBot({
  homeserver: env.homeserver,
  userId: env.userId,
  storePath: env.storePath,
  storeUrl: env.storeUrl,
  syncMode: env.syncMode,
  fetch: env.fetch ? (input, init) => globalThis.fetch(input, init) : undefined,
  // BENCH_SLIDING_HANDOFF=0: sliding sync for good, to compare with the hand-off to /sync.
  ...(process.env.BENCH_SLIDING_HANDOFF === "0" ? { slidingSync: { handoff: false } } : {}),
  // Each run is a new device of the same account: the first store run creates the account's
  // cross-signing identity and writes its recovery key here, the later ones join it with the key.
  recoveryKeyFile: env.recoveryKeyFile,
  recoveryKey: env.recoveryKeyFile && existsSync(env.recoveryKeyFile) ? readFileSync(env.recoveryKeyFile, "utf8").trim() : undefined,
  showRecoveryKey: () => undefined,
  logger: consoleLogger("warn"),
  handleSignals: false,
});
// The framework path a real bot takes: prefix, command lookup, context, reply.
bot.command("ping", async (ctx) => {
  await ctx.respond("pong");
});
// start() resolves once the set-up is done (with a store: the crypto machine, the identity, the
// backup); the first answers can come before that.
const setUp = settingUp();
await bot.start({ accessToken: env.accessToken });
setUp();
