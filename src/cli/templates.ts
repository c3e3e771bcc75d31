/**
 * The files `niobot init` writes. Kept apart from the command so the scaffold
 * reads as what it is: a small bot project.
 */

/** Inputs of the templates. */
export interface TemplateOptions {
  /** npm package name of the new project. */
  name: string;
  /** Version spec of the `niobot` dependency (`^0.1.0`, `file:/path/to/niobot`). */
  niobotSpec: string;
  /** Version specs of the tools, taken from niobot's own package.json so they stay in step. */
  tsx: string;
  typescript: string;
  typesNode: string;
}

/** package.json of the new project. `tsx` is a dependency: `npm start` needs it in production too. */
export function packageJson(o: TemplateOptions): string {
  const pkg = {
    name: o.name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: { start: "tsx main.ts", test: "node --import tsx --test bot.test.ts", typecheck: "tsc --noEmit -p ." },
    engines: { node: ">=20.19" },
    dependencies: { niobot: o.niobotSpec, tsx: o.tsx },
    devDependencies: { "@types/node": o.typesNode, typescript: o.typescript },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/** tsconfig.json: strict, NodeNext; type-checking only (tsx runs the code). */
export function tsconfigJson(): string {
  const config = {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2023"],
      types: ["node"],
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
      noEmit: true,
    },
    include: ["**/*.ts"],
    exclude: ["node_modules"],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** .gitignore: dependencies, the stores (SQLite and its -wal/-shm files, the crypto store) and the secrets. */
export function gitignore(envFile: string): string {
  return ["node_modules/", "", "# stores: sync position, login, encryption keys", "*.db*", "*.crypto*", "", "# the access token", envFile, ".env.*", "!.env.example", ""].join("\n");
}

/** .env.example: the settings main.ts reads, documented. */
export function envExample(): string {
  return `# Copy to .env, or let \`npx niobot login\` write .env for you.
MATRIX_HOMESERVER=https://matrix.example.org
MATRIX_USER_ID=@mybot:example.org
# Either an access token (what \`niobot login\` saves)...
MATRIX_ACCESS_TOKEN=
MATRIX_DEVICE_ID=
# ...or a password (the bot then logs in itself and remembers the device in the store).
MATRIX_PASSWORD=
# Optional:
BOT_PREFIX=!
STORE_PATH=bot.db
`;
}

/** bot.ts: the bot's factory, shared by main.ts and the test. */
export function botTs(): string {
  return `/**
 * The bot: its commands and listeners. main.ts runs it; bot.test.ts tests it
 * against a real homeserver.
 */
import { NioBot, type NioBotOptions } from "niobot";

/** Creates the bot (not started). */
export function createBot(options: NioBotOptions): NioBot {
  const bot = new NioBot(options);

  bot.command("ping", { description: "Checks that the bot is alive." }, async (ctx) => {
    await ctx.respond(\`Pong! (\${ctx.latency} ms)\`);
  });

  return bot;
}
`;
}

/** main.ts: runs the bot, configured from the environment. */
export function mainTs(): string {
  return `/**
 * Runs the bot (see bot.ts) with \`npm start\`.
 * Settings come from the environment, or from .env (see .env.example).
 */
import { createBot } from "./bot.js";

// .env holds the session that \`npx niobot login\` saved. Variables already set
// in the environment win over it.
try {
  process.loadEnvFile(".env");
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
}

function setting(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

function required(name: string): string {
  const value = setting(name);
  if (value === undefined) {
    console.error(\`\${name} is not set. Run \\\`npx niobot login\\\` to create .env, or see .env.example.\`);
    process.exit(1);
  }
  return value;
}

const homeserver = required("MATRIX_HOMESERVER");
const userId = required("MATRIX_USER_ID");
const accessToken = setting("MATRIX_ACCESS_TOKEN");
const password = setting("MATRIX_PASSWORD");
const prefix = setting("BOT_PREFIX") ?? "!";

const bot = createBot({
  homeserver,
  userId,
  deviceId: setting("MATRIX_DEVICE_ID"),
  // The store keeps the login, the sync position and room state across restarts.
  storePath: setting("STORE_PATH") ?? "bot.db",
  commandPrefix: prefix,
});

bot.on("ready", () => {
  console.log(\`\${bot.userId} is online. Invite it to a room and say \${prefix}ping.\`);
});

if (accessToken) await bot.start({ accessToken });
else if (password) await bot.start({ password });
else await bot.start(); // a login kept in the store from an earlier run
`;
}

/** bot.test.ts: the bot against a real homeserver, with niobot/testing and node:test. */
export function botTestTs(): string {
  return `/**
 * Tests the bot against a real homeserver: \`npm test\`. It uses the server named by
 * MATRIX_TEST_HOMESERVER and MATRIX_TEST_REGISTRATION_SECRET, or else starts a
 * local Synapse (Linux, as root; see \`npx niobot dev-server\`).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { silentLogger, type NioBot } from "niobot";
import { startTestHomeserver, type TestHomeserver } from "niobot/testing";
import { createBot } from "./bot.js";

let hs: TestHomeserver;
let bot: NioBot;

before(async () => {
  hs = await startTestHomeserver();
  const account = await hs.botAccount();
  bot = createBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger });
  await bot.start({ password: account.password });
});

after(async () => {
  await bot.stop();
  await hs.stop();
});

test("!ping answers Pong", async () => {
  const alice = await hs.user("alice");
  const room = await alice.dm(bot.userId);
  await alice.say(room, "!ping");
  const reply = await alice.expectReply(room, /^Pong! \\(\\d+ ms\\)$/);
  assert.equal(reply.sender, bot.userId);
});

test("other messages get no answer", async () => {
  const bob = await hs.user("bob");
  const room = await bob.createRoom({ invite: [bot.userId] });
  await bob.say(room, "hello there");
  await bob.expectNoReply(room, 1_000);
});
`;
}

/** README.md of the new project. */
export function readme(name: string, envFile: string): string {
  return `# ${name}

A Matrix bot built with [niobot](https://www.npmjs.com/package/niobot).

## Run it

\`\`\`sh
npm install
npx niobot login   # asks for homeserver, user and password; saves the session in ${envFile}
npm start
\`\`\`

Then invite the bot to a room and say \`!ping\`.

No homeserver yet? \`npx niobot dev-server start\` runs a local Synapse
(Linux, as root); \`npx niobot dev-server register mybot\` makes an account.

## Files

- \`bot.ts\` — the bot: add commands with \`bot.command(...)\`.
- \`main.ts\` — runs it with the settings below.
- \`bot.test.ts\` — \`npm test\`: the bot against a real homeserver (\`niobot/testing\`). Set
  \`MATRIX_TEST_HOMESERVER\` and \`MATRIX_TEST_REGISTRATION_SECRET\` to use a server of yours;
  otherwise it starts a local Synapse (Linux, as root).
- \`${envFile}\` — the session (\`MATRIX_HOMESERVER\`, \`MATRIX_USER_ID\`, \`MATRIX_ACCESS_TOKEN\`,
  \`MATRIX_DEVICE_ID\`); or set \`MATRIX_PASSWORD\` instead of a token. Optional: \`BOT_PREFIX\`
  (default \`!\`), \`STORE_PATH\` (default \`bot.db\`). Never commit it.
- \`npm run typecheck\` — type-checks the project.
`;
}
