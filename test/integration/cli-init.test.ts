/**
 * `niobot init`: the scaffold installs, type-checks, logs in through the
 * installed `niobot` bin, and the bot it makes answers `!ping` on the test
 * homeserver. Needs the npm registry (tsx, typescript, @types/node) and a
 * built `dist/` (CI builds before testing; built here when missing or stale).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseEnv } from "../../src/auth/envfile.js";
import { repoRoot, runCli, tempDir } from "../helpers/cli.js";
import { homeserver, newTestUser, newUser } from "../helpers/matrix.js";

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

before(() => {
  // The scaffold links this checkout, whose types and bin come from dist/.
  const built = join(repoRoot, "dist", "index.d.ts");
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource(join(repoRoot, "src"))) return;
  try {
    execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "pipe" });
  } catch (error) {
    // tsc emits despite type errors elsewhere; the scaffold's own type check below is what counts.
    console.log(`# npm run build reported errors: ${(error as Error).message.split("\n")[0]}`);
  }
});

/** Runs a command to completion; returns exit code and output. */
function run(cmd: string, args: string[], cwd: string, input = ""): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    // A node:test runner in the child must not think it runs inside this one.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(cmd, args, { cwd, stdio: ["pipe", "pipe", "pipe"], env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

test("init: refuses a non-empty dir, needs a dir", async () => {
  const { dir, remove } = tempDir();
  cleanups.push(remove);
  writeFileSync(join(dir, "keep.txt"), "mine");
  const r = await runCli(["init", dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not empty \(keep\.txt\): refusing to overwrite/);
  assert.equal(readFileSync(join(dir, "keep.txt"), "utf8"), "mine");
  const file = await runCli(["init", join(dir, "keep.txt")]);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /exists and is not a directory/);
  assert.equal((await runCli(["init"])).code, 2);
});

test("init: the scaffold installs, type-checks, and its bot answers !ping", { timeout: 180_000 }, async () => {
  const { dir: parent, remove } = tempDir();
  cleanups.push(remove);
  const dir = join(parent, "My Bot");
  const r = await runCli(["init", dir, "--niobot", `file:${repoRoot}`]);
  assert.equal(r.code, 0, r.stderr);
  for (const file of ["package.json", "tsconfig.json", "bot.ts", "main.ts", "bot.test.ts", ".gitignore", ".env.example", "README.md"])
    assert.ok(existsSync(join(dir, file)), file);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    name: string;
    type: string;
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
  };
  assert.equal(pkg.name, "my-bot");
  assert.equal(pkg.type, "module");
  assert.equal(pkg.scripts.start, "tsx main.ts");
  assert.ok(pkg.scripts.typecheck);
  assert.equal(pkg.scripts.test, "node --import tsx --test bot.test.ts");
  assert.equal(pkg.dependencies.niobot, `file:${repoRoot}`);
  const ignored = readFileSync(join(dir, ".gitignore"), "utf8").split("\n");
  for (const pattern of ["node_modules/", "*.db*", "*.crypto*", ".env"]) assert.ok(ignored.includes(pattern), pattern);
  assert.match(readFileSync(join(dir, "README.md"), "utf8"), /npm start/);
  assert.match(readFileSync(join(dir, "bot.test.ts"), "utf8"), /from "niobot\/testing"/);
  const main = readFileSync(join(dir, "main.ts"), "utf8");
  for (const name of ["MATRIX_HOMESERVER", "MATRIX_USER_ID", "MATRIX_ACCESS_TOKEN", "MATRIX_PASSWORD", "BOT_PREFIX", "STORE_PATH"])
    assert.ok(main.includes(name), name);

  const install = await run("npm", ["install", "--no-audit", "--no-fund"], dir);
  assert.equal(install.code, 0, install.output);
  const typecheck = await run(join(dir, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "."], dir);
  assert.equal(typecheck.code, 0, typecheck.output);

  // The scaffold's own test (niobot/testing) passes against the test homeserver (MATRIX_TEST_* from the runner).
  const tested = await run("npm", ["test"], dir);
  assert.equal(tested.code, 0, tested.output);
  assert.match(tested.output, /# pass 2\b/);
  assert.match(tested.output, /# fail 0\b/);

  // The newcomer's path: `npx niobot login` (the installed bin, i.e. dist/cli), then `npm start`.
  const hs = await homeserver();
  const account = await newUser("scaffold");
  const login = await run(join(dir, "node_modules", ".bin", "niobot"), ["login", "--homeserver", hs.baseUrl, "--user", account.userId, "--password-stdin"], dir, `${account.password}\n`);
  assert.equal(login.code, 0, login.output);
  assert.equal(parseEnv(readFileSync(join(dir, ".env"), "utf8")).MATRIX_USER_ID, account.userId);

  // Its own process group: tsx runs the bot in a child process, and a failed test must take both down.
  const bot = spawn(join(dir, "node_modules", ".bin", "tsx"), ["main.ts"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const online = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (output.includes("is online")) resolve();
    };
    bot.stdout.on("data", onData);
    bot.stderr.on("data", onData);
    bot.on("exit", (code) => reject(new Error(`the bot exited (${code}):\n${output}`)));
  });
  const exited = new Promise<string>((resolve) => bot.on("exit", (code, signal) => resolve(signal ?? String(code))));
  let stoppedBy: string | undefined;
  try {
    await online;
    const human = await newTestUser("scaffold-human");
    const roomId = await human.createRoom([account.userId]);
    await human.waitForEvent((e) => e.type === "m.room.member" && e.state_key === account.userId && (e.content as { membership?: string }).membership === "join");
    await human.send(roomId, "!ping");
    const pong = await human.waitForEvent((e) => e.sender === account.userId && e.type === "m.room.message");
    assert.match(String((pong.content as { body?: unknown }).body), /^Pong! \(\d+ ms\)/);

    // Ctrl-C / SIGTERM stops the bot cleanly (tsx passes the signal on to it).
    bot.kill("SIGTERM");
    stoppedBy = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000).unref())]);
  } finally {
    if (bot.pid !== undefined && stoppedBy === undefined) {
      try {
        process.kill(-bot.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    bot.stdout.destroy();
    bot.stderr.destroy();
  }
  assert.ok(stoppedBy !== undefined, `the bot did not stop within 20 s of SIGTERM:\n${output}`);
  assert.match(output, /stopping/);
  assert.ok(existsSync(join(dir, "bot.db")), "STORE_PATH defaults to bot.db");
});
