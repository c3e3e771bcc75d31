/**
 * The package as consumers get it: `npm pack`, installed from the tarball
 * into a fresh project (dependencies from the npm cache, `--prefer-offline`),
 * type-checked with `"moduleResolution": "node16"` and `"bundler"`, a bot run
 * with `niobot/testing` against the test homeserver, and `niobot init` run
 * from the installed package without `--niobot`.
 *
 * Install scripts are skipped (`--ignore-scripts`): without network access
 * to prebuilt binaries, better-sqlite3 compiles from source for ~4 minutes;
 * the bots here use the memory store, and the native module loads lazily.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers/cli.js";

const run = promisify(execFile);
const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");

const CHECK_TS = `import { NioBot, silentLogger, type NioBotOptions } from "niobot";
import { startTestHomeserver, type TestHomeserver, type TestPerson } from "niobot/testing";
import { MatrixApi, type SyncEngine } from "niobot/advanced";
// @ts-expect-error: internals live in niobot/advanced, not in the root export
import { SyncEngine as NotAtTheRoot } from "niobot";

export type Engine = SyncEngine | typeof NotAtTheRoot;
export const api: typeof MatrixApi = MatrixApi;

export async function main(): Promise<void> {
  const hs: TestHomeserver = await startTestHomeserver();
  const account = await hs.botAccount();
  const options: NioBotOptions = { homeserver: account.homeserver, userId: account.userId, logger: silentLogger };
  const bot = new NioBot(options);
  const alice: TestPerson = await hs.user("alice", { encrypted: true });
  const room: string = await alice.dm(bot.userId);
  await alice.say(room, "!ping");
  // @ts-expect-error: expectReply takes a room id first
  await alice.expectReply(/pong/);
  await hs.stop();
}
`;

const RUN_MJS = `import { NioBot, silentLogger } from "niobot";
import { startTestHomeserver } from "niobot/testing";
import { MatrixApi, SyncEngine } from "niobot/advanced";

if (typeof MatrixApi !== "function" || typeof SyncEngine !== "function") throw new Error("niobot/advanced did not load");

const hs = await startTestHomeserver();
const account = await hs.botAccount();
const bot = new NioBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger });
bot.command("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(String(a + b)));
await bot.start({ password: account.password });
const alice = await hs.user("alice");
const room = await alice.dm(bot.userId);
await alice.say(room, "!add 2 3");
const reply = await alice.expectReply(room, /^5$/);
console.log("reply from " + reply.sender);
await bot.stop();
await hs.stop();
`;

function tsconfig(module: string, moduleResolution: string): string {
  return JSON.stringify({
    compilerOptions: { target: "ES2022", module, moduleResolution, lib: ["ES2023"], types: ["node"], strict: true, noEmit: true, skipLibCheck: false },
    files: ["check.ts"],
  });
}

describe("the packed package in a fresh project", { timeout: 240_000 }, () => {
  let dir: string;
  let tarball: string;
  const cleanups: (() => void)[] = [];

  before(async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    // `npm pack` runs `prepare`, which builds dist/ from this checkout.
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", tmp.dir], { cwd: repoRoot, maxBuffer: 16 << 20 });
    const [info] = JSON.parse(stdout) as { filename: string }[];
    tarball = join(tmp.dir, info?.filename ?? "");
    dir = join(tmp.dir, "consumer");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
    await run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", tarball, "@types/node@^20"], { cwd: dir, maxBuffer: 16 << 20 });
  });

  after(() => cleanups.forEach((c) => c()));

  for (const [module, resolution] of [["node16", "node16"], ["esnext", "bundler"]] as const)
    test(`"moduleResolution": "${resolution}" type-checks niobot, niobot/testing and niobot/advanced`, async () => {
      writeFileSync(join(dir, "check.ts"), CHECK_TS);
      writeFileSync(join(dir, `tsconfig.${resolution}.json`), tsconfig(module, resolution));
      const result = await run(process.execPath, [tsc, "-p", `tsconfig.${resolution}.json`], { cwd: dir }).catch((e: { stdout: string }) => ({ stdout: `FAILED\n${e.stdout}` }));
      assert.equal(result.stdout, "");
      // The check can fail: a wrong call is an error.
      writeFileSync(join(dir, "check.ts"), CHECK_TS.replace("// @ts-expect-error: expectReply takes a room id first\n", ""));
      await assert.rejects(run(process.execPath, [tsc, "-p", `tsconfig.${resolution}.json`], { cwd: dir }), (e: { stdout: string }) => /check\.ts.*TS2345/.test(e.stdout));
    });

  test("a bot runs with niobot/testing from the installed package, and niobot/advanced loads", async () => {
    writeFileSync(join(dir, "run.mjs"), RUN_MJS);
    const { stdout } = await run(process.execPath, ["run.mjs"], { cwd: dir, timeout: 120_000 });
    assert.match(stdout, /^reply from @bot-[0-9a-f]{8}:/m);
  });

  test("niobot init from the installed tarball depends on that tarball, without --niobot", async () => {
    await run(join(dir, "node_modules", ".bin", "niobot"), ["init", "my-bot"], { cwd: dir });
    const pkg = JSON.parse(readFileSync(join(dir, "my-bot", "package.json"), "utf8")) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies.niobot, `file:${tarball}`);
    assert.match(readFileSync(join(dir, "my-bot", "bot.test.ts"), "utf8"), /from "niobot\/testing"/);
  });
});
