/**
 * A bot process for the crash test: it logs in (or reuses its store), and
 * kills itself with SIGKILL at the moment a refreshed token pair is about to
 * be written to the store — after the homeserver issued it, before it is
 * persisted or used. Run with tsx; configured by environment variables.
 */
import { NioBot } from "../../src/bot/bot.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import type { StoredLogin } from "../../src/storage/store.js";

class CrashingStore extends SqliteStore {
  #firstRefreshToken: string | undefined;
  override async setLogin(login: StoredLogin | undefined): Promise<void> {
    if (login?.refreshToken && this.#firstRefreshToken === undefined) this.#firstRefreshToken = login.refreshToken;
    else if (login?.refreshToken && login.refreshToken !== this.#firstRefreshToken) {
      process.stdout.write("CRASHING-BEFORE-PERSIST\n");
      process.kill(process.pid, "SIGKILL");
      await new Promise(() => undefined);
    }
    return super.setLogin(login);
  }
}

const env = process.env;
const bot = new NioBot({
  homeserver: env.CRASH_HOMESERVER!,
  userId: env.CRASH_USER_ID!,
  store: new CrashingStore(env.CRASH_STORE!),
  encryption: false,
  handleSignals: false,
  logger: consoleLogger(env.NIOBOT_LOG_LEVEL === undefined ? "silent" : "debug"),
});
await bot.start({ password: env.CRASH_PASSWORD! });
process.stdout.write(`READY ${bot.deviceId}\n`);
