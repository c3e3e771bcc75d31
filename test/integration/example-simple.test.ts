/**
 * `examples/simple.ts` against a real homeserver: imported through its `createBot` factory, and
 * run as a program the way its header says.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { createBot } from "../../examples/simple.js";
import { readEnv } from "../../examples/env.js";
import { homeserver, newTestUser, newUser, type TestUser } from "../helpers/matrix.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function inReplyTo(e: ClientEvent): string | undefined {
  const rel = e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

describe("examples/env.ts", () => {
  test("reads the convention, preferring a token, defaulting the prefix", () => {
    const env = readEnv({ MATRIX_HOMESERVER: "https://hs", MATRIX_USER_ID: "@b:hs", MATRIX_ACCESS_TOKEN: "t", MATRIX_PASSWORD: "p" });
    assert.deepEqual(env, { homeserver: "https://hs", userId: "@b:hs", credentials: { accessToken: "t" }, prefix: "!", storePath: undefined, storeUrl: undefined, envFile: undefined, recoveryKey: undefined });
    const refreshing = readEnv({ MATRIX_HOMESERVER: "hs", MATRIX_USER_ID: "@b:hs", MATRIX_ACCESS_TOKEN: "t", MATRIX_REFRESH_TOKEN: "r", MATRIX_TOKEN_EXPIRES_AT: "2030-01-01T00:00:00.000Z", MATRIX_ENV_FILE: ".env" });
    assert.deepEqual(refreshing.credentials, { accessToken: "t", refreshToken: "r", expiresAt: Date.parse("2030-01-01T00:00:00.000Z") });
    assert.equal(refreshing.envFile, ".env");
    const stored = readEnv({ MATRIX_HOMESERVER: "hs", MATRIX_USER_ID: "@b:hs", STORE_PATH: "/tmp/x.db", BOT_PREFIX: "?" });
    assert.deepEqual(stored.credentials, {});
    assert.equal(stored.prefix, "?");
    // A PostgreSQL store that holds a login needs no credentials either.
    const inPostgres = readEnv({ MATRIX_HOMESERVER: "hs", MATRIX_USER_ID: "@b:hs", STORE_URL: "postgres://db/bots?schema=b" });
    assert.equal(inPostgres.storeUrl, "postgres://db/bots?schema=b");
    assert.deepEqual(inPostgres.credentials, {});
    assert.equal(readEnv({ MATRIX_HOMESERVER: "hs", MATRIX_USER_ID: "@b:hs", MATRIX_PASSWORD: "p", MATRIX_RECOVERY_KEY: " EsT1 abcd " }).recoveryKey, "EsT1 abcd");
    assert.throws(() => readEnv({ MATRIX_USER_ID: "@b:hs" }), /MATRIX_HOMESERVER, MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD/);
  });
});

describe("examples/simple.ts", () => {
  let human: TestUser;
  let other: TestUser;
  let bot: NioBot;
  let roomId: string;

  async function ask(body: string, extra: Record<string, unknown> = {}): Promise<ClientEvent> {
    const id = await human.send(roomId, body, extra);
    return human.waitForEvent((e) => e.sender === bot.userId && inReplyTo(e) === id);
  }

  before(async () => {
    const hs = await homeserver();
    const account = await newUser("simple");
    human = await newTestUser("alice");
    other = await newTestUser("bob");
    await human.api.profile.setDisplayName(human.userId, "Alice <3 @room");
    await other.api.profile.setDisplayName(other.userId, "Bob");
    ({ bot } = createBot(
      { MATRIX_HOMESERVER: hs.baseUrl, MATRIX_USER_ID: account.userId, MATRIX_PASSWORD: account.password },
      { handleSignals: false, logger: consoleLogger("silent") },
    ));
    await bot.start({ password: account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId, other.userId]);
    await joined;
    await other.api.rooms.join(roomId);
  });

  after(async () => {
    await bot.stop();
  });

  test("!ping answers Pong with the latency", async () => {
    const reply = await ask("!ping");
    assert.match(String(reply.content.body), /^Pong! \d+ms$/);
    assert.equal(reply.content.msgtype, "m.notice");
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("!echo repeats the text with mentions neutralised", async () => {
    const reply = await ask("!echo hello @room, *stars* stay");
    assert.equal(reply.content.body, "hello @\u2060r\u2060oom, *stars* stay");
    assert.equal(reply.content.formatted_body, undefined);
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("!wave waves by display name with a pill, even to a member the bot hasn't seen speak", async () => {
    const reply = await ask(`!wave ${other.userId}`);
    assert.equal(reply.content.body, "👋 Bob");
    assert.equal(reply.content.formatted_body, `👋 <a href="https://matrix.to/#/${other.userId}">Bob</a>`);
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [other.userId, human.userId] });
  });

  test("!wave takes a pill; a hostile display name is escaped and defused", async () => {
    const reply = await ask("!wave Alice <3 @room", {
      format: "org.matrix.custom.html",
      formatted_body: `!wave <a href="https://matrix.to/#/${human.userId}">Alice &lt;3 @room</a>`,
    });
    assert.equal(reply.content.body, "👋 Alice <3 @\u2060r\u2060oom");
    assert.equal(reply.content.formatted_body, `👋 <a href="https://matrix.to/#/${human.userId}">Alice &lt;3 @\u2060r\u2060oom</a>`);
    assert.deepEqual(reply.content["m.mentions"], { user_ids: [human.userId] });
  });

  test("!add adds; errors go through the example's commandError listener", async () => {
    assert.equal((await ask("!add 19 23")).content.body, "19 + 23 = 42");
    assert.equal((await ask("!add 1 x")).content.body, '⚠️ Argument "b": expected an integer, got "x"\nUsage: !add <a> <b>');
    assert.equal((await ask("!add 1")).content.body, '⚠️ Missing required argument "b". Usage: !add <a> <b>');
  });

  test("!help lists the example's commands", async () => {
    const lines = String((await ask("!help")).content.body).split("\n");
    for (const line of ["!add <a> <b> — Adds two whole numbers.", "!echo <text...> — Repeats what you said.", "!wave <user> — Waves to someone."]) {
      assert.ok(lines.includes(line), `missing ${line} in ${lines.join(" | ")}`);
    }
  });
});

describe("examples/simple.ts as a program", () => {
  function run(env: Record<string, string>): ReturnType<typeof spawn> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MATRIX_") && k !== "BOT_PREFIX" && k !== "STORE_PATH"));
    return spawn(process.execPath, [`${ROOT}node_modules/tsx/dist/cli.mjs`, "examples/simple.ts"], {
      cwd: ROOT,
      env: { ...clean, NIOBOT_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  test("missing configuration: exit code 1 and a message naming the variables", async () => {
    const child = run({ MATRIX_HOMESERVER: "http://127.0.0.1:1" });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 1);
    assert.match(stderr, /missing environment variable\(s\): MATRIX_USER_ID, MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD/);
  });

  test("runs, answers a command with a custom prefix, and stops cleanly on SIGTERM", async () => {
    const hs = await homeserver();
    const account = await newUser("prog");
    const human = await newTestUser("prog-human");
    const child = run({ MATRIX_HOMESERVER: hs.baseUrl, MATRIX_USER_ID: account.userId, MATRIX_ACCESS_TOKEN: account.accessToken, BOT_PREFIX: "%" });
    let stderr = "";
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bot did not get ready: ${stderr}`)), 30_000);
        child.stderr?.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes("simple bot is ready")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", (code) => reject(new Error(`bot exited early (${code}): ${stderr}`)));
      });
      const roomId = await human.createRoom([account.userId]);
      await human.waitForEvent((e) => e.type === "m.room.member" && e.state_key === account.userId && e.content.membership === "join");
      const id = await human.send(roomId, "%add 2 3");
      const reply = await human.waitForEvent((e) => e.sender === account.userId && inReplyTo(e) === id);
      assert.equal(reply.content.body, "2 + 3 = 5");
      assert.ok(!stderr.includes(account.accessToken), "the token never reaches the log");
    } finally {
      child.kill("SIGTERM");
    }
    const [code, signal] = child.exitCode !== null || child.signalCode !== null
      ? [child.exitCode, child.signalCode]
      : ((await once(child, "exit")) as [number | null, NodeJS.Signals | null]);
    // The bot stops cleanly, then re-raises the signal so the exit status is the usual one.
    assert.ok(code === 128 + 15 || signal === "SIGTERM", `exit ${code} ${signal}: ${stderr}`);
    assert.match(stderr, /stopping/);
  });
});
