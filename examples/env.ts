/**
 * The environment convention every example follows, so each can be run the same way:
 *
 * | variable              | meaning                                                  |
 * |-----------------------|----------------------------------------------------------|
 * | `MATRIX_HOMESERVER`   | base URL or server name (required)                       |
 * | `MATRIX_USER_ID`      | the bot's user ID (required)                             |
 * | `MATRIX_ACCESS_TOKEN` | log in with this token, or                               |
 * | `MATRIX_REFRESH_TOKEN` | renews an expiring access token (with `MATRIX_TOKEN_EXPIRES_AT`) |
 * | `MATRIX_OAUTH_ISSUER`, `MATRIX_OAUTH_CLIENT_ID` | refresh at this OAuth 2.0 server (`niobot login --oauth`) |
 * | `MATRIX_ENV_FILE`     | the env file the tokens came from: refreshed tokens are written back to it |
 * | `MATRIX_PASSWORD`     | log in with this password                                |
 * | `BOT_PREFIX`          | command prefix (default `!`)                             |
 * | `STORE_PATH`          | SQLite store file (optional; memory store when absent)   |
 * | `STORE_URL`           | a PostgreSQL store instead: `postgres://user:pw@host/db?schema=bot` |
 * | `MATRIX_RECOVERY_KEY` | the account's recovery key, so an encrypting bot's device |
 * |                       | joins the account's cross-signing identity (optional)    |
 *
 * Without a token or password the bot needs a store that already holds a login.
 */
import { pathToFileURL } from "node:url";
import { NioBot, type NioBotOptions } from "../src/bot/bot.js";
import type { Credentials } from "../src/bot/login.js";
import { parseExpiry } from "../src/auth/envfile.js";

/** What an example needs from the environment. */
export interface ExampleEnv {
  readonly homeserver: string;
  readonly userId: string;
  readonly credentials: Credentials;
  readonly prefix: string;
  readonly storePath: string | undefined;
  readonly storeUrl: string | undefined;
  readonly envFile: string | undefined;
  readonly recoveryKey: string | undefined;
}

/** A variable is missing or unusable; the message says which and how to fix it. */
export class EnvError extends Error {
  override readonly name = "EnvError";
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the example convention from an environment (default `process.env`).
 *
 * @throws {EnvError} naming every missing variable.
 */
export function readEnv(env: Env = process.env): ExampleEnv {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const homeserver = get("MATRIX_HOMESERVER");
  const userId = get("MATRIX_USER_ID");
  const accessToken = get("MATRIX_ACCESS_TOKEN");
  const password = env.MATRIX_PASSWORD; // passwords may legitimately have edge whitespace
  const storePath = get("STORE_PATH");
  const storeUrl = get("STORE_URL");
  const missing: string[] = [];
  if (homeserver === undefined) missing.push("MATRIX_HOMESERVER");
  if (userId === undefined) missing.push("MATRIX_USER_ID");
  if (accessToken === undefined && !password && storePath === undefined && storeUrl === undefined) missing.push("MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD");
  if (homeserver === undefined || userId === undefined || missing.length > 0) {
    throw new EnvError(`missing environment variable(s): ${missing.join(", ")} (see examples/env.ts)`);
  }
  const refreshToken = get("MATRIX_REFRESH_TOKEN");
  const expiresAt = parseExpiry(get("MATRIX_TOKEN_EXPIRES_AT"));
  const issuer = get("MATRIX_OAUTH_ISSUER");
  const clientId = get("MATRIX_OAUTH_CLIENT_ID");
  const credentials: Credentials =
    accessToken !== undefined
      ? { accessToken, ...(refreshToken ? { refreshToken } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}), ...(issuer && clientId ? { oauth: { issuer, clientId } } : {}) }
      : password ? { password } : {};
  return { homeserver, userId, credentials, prefix: env.BOT_PREFIX || "!", storePath, storeUrl, envFile: get("MATRIX_ENV_FILE"), recoveryKey: get("MATRIX_RECOVERY_KEY") };
}

/** A configured (not started) example bot and the credentials to start it with. */
export interface ExampleBot {
  readonly bot: NioBot;
  readonly credentials: Credentials;
}

/**
 * Creates a bot configured by the environment convention; every example starts here.
 *
 * @param overrides - extra bot options, e.g. a quiet logger in tests.
 * @param label - what the "ready" log line calls this bot.
 */
export function botFromEnv(env: Env = process.env, overrides: Partial<NioBotOptions> = {}, label = "example bot"): ExampleBot {
  const config = readEnv(env);
  const bot = new NioBot({
    homeserver: config.homeserver,
    userId: config.userId,
    commandPrefix: config.prefix,
    ...(config.storePath === undefined ? {} : { storePath: config.storePath }),
    ...(config.storeUrl === undefined ? {} : { storeUrl: config.storeUrl }),
    ...(config.envFile === undefined ? {} : { envFile: config.envFile }),
    ...(config.recoveryKey === undefined ? {} : { recoveryKey: config.recoveryKey }),
    ...overrides,
  });
  bot.on("ready", () => bot.log.info({ userId: bot.userId, prefix: config.prefix }, `${label} is ready`));
  return { bot, credentials: config.credentials };
}

/**
 * Whether the module with this `import.meta.url` is the program being run (not imported), so a
 * file can both export a factory for tests and run as a bot.
 */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && importMetaUrl === pathToFileURL(entry).href;
}

/** Runs an example's main function, printing a failure without a stack for {@link EnvError}. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof EnvError ? `error: ${error.message}` : error);
    process.exitCode = 1;
  });
}
