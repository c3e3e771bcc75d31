/**
 * `niobot dev-server start|status|register|stop`: a real background Synapse
 * in a temporary state dir (NIOBOT_DEV_SERVER_DIR). Needs root, like the
 * dev homeserver itself.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { generateRegistration, registrationToYaml } from "../../src/appservice/registration.js";
import type { DevServerState } from "../../src/cli/dev-server-state.js";
import { runCli, tempDir } from "../helpers/cli.js";

const skip = process.getuid?.() !== 0 ? "needs root to chroot into the Synapse rootfs" : false;
const { dir, remove } = tempDir("niobot-dev-server-");
const env = { NIOBOT_DEV_SERVER_DIR: dir };
const cli = (args: string[], input?: string) => runCli(["dev-server", ...args], { env, input, timeoutMs: 300_000 });
const readState = (): DevServerState => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as DevServerState;

after(async () => {
  // Never leave a Synapse behind, whatever failed.
  if (existsSync(join(dir, "state.json"))) {
    const { pid } = readState();
    if (running(pid)) process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && running(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }
  remove();
});

/** Alive and not a zombie (an exited child of ours waits as a zombie until its new parent reaps it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function passwordLogin(baseUrl: string, user: string, password: string): Promise<string> {
  return (await new MatrixApi({ baseUrl }).account.loginWithPassword(user, password)).user_id;
}

test("dev-server: start, status, register, restart with data kept, stop", { skip, timeout: 300_000 }, async () => {
  const before = await cli(["status"]);
  assert.equal(before.code, 1);
  assert.match(before.stdout, /not running/);

  const started = await cli(["start"]);
  assert.equal(started.code, 0, started.stderr);
  const state = readState();
  assert.match(state.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(started.stdout.includes(`running at ${state.baseUrl}`), started.stdout);
  assert.match(started.stdout, /dev-server register/);
  assert.equal(statSync(join(dir, "state.json")).mode & 0o777, 0o600, "the state file holds the registration secret");
  assert.ok(running(state.pid) && state.synapsePid !== undefined && running(state.synapsePid));
  assert.ok((await fetch(`${state.baseUrl}/_matrix/client/versions`)).ok);

  const again = await cli(["start"]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already running at/);
  assert.equal(readState().pid, state.pid, "idempotent: no second server");

  const status = await cli(["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`url\\s+${state.baseUrl}`));
  assert.match(status.stdout, /status\s+running/);
  const json = JSON.parse((await cli(["status", "--json"])).stdout) as Record<string, unknown>;
  assert.equal(json.running, true);
  assert.equal(json.baseUrl, state.baseUrl);
  assert.equal("registrationSecret" in json, false);
  for (const out of [started, again, status]) assert.ok(!(out.stdout + out.stderr).includes(state.registrationSecret), "the secret is never printed");

  const alice = await cli(["register", "alice"]);
  assert.equal(alice.code, 0, alice.stderr);
  assert.match(alice.stdout, /Registered @alice:localhost\./);
  const password = /Password: (\S+)/.exec(alice.stdout)?.[1];
  assert.ok(password);
  assert.equal(await passwordLogin(state.baseUrl, "alice", password), "@alice:localhost");
  const taken = await cli(["register", "alice"]);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /alice already exists/);
  const admin = await cli(["register", "@root:localhost", "--admin", "--password-stdin"], "admin-pw\n");
  assert.equal(admin.code, 0, admin.stderr);
  assert.match(admin.stdout, /Registered @root:localhost \(server admin\)/);
  assert.doesNotMatch(admin.stdout, /Password:/);
  const otherServer = await cli(["register", "@bob:example.org"]);
  assert.equal(otherServer.code, 2);

  // Restart: same URL (the port is remembered), accounts kept; this time with an appservice registration loaded.
  assert.equal((await cli(["stop"])).code, 0);
  const registration = join(dir, "registration.yaml");
  // Written in process (the CLI command has its own test): one child process less in a long test.
  writeFileSync(registration, registrationToYaml(generateRegistration({ url: "http://127.0.0.1:9", serverName: "localhost" })), { mode: 0o600 });
  const restarted = await cli(["start", "--appservice", registration]);
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.equal(readState().baseUrl, state.baseUrl);
  assert.equal(await passwordLogin(state.baseUrl, "root", "admin-pw"), "@root:localhost");
  const asToken = /as_token: (\S+)/.exec(readFileSync(registration, "utf8"))?.[1];
  assert.ok(asToken);
  assert.equal((await new MatrixApi({ baseUrl: state.baseUrl, accessToken: asToken }).account.whoami()).user_id, "@niobot:localhost", "Synapse loaded the registration");

  const runner = readState();
  const stopped = await cli(["stop"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /Stopped the dev homeserver at/);
  assert.equal(running(runner.pid), false, "the runner is gone");
  assert.ok(runner.synapsePid !== undefined && !running(runner.synapsePid), "Synapse is gone");
  assert.equal(existsSync(join(dir, "state.json")), false);
  const finalStatus = await cli(["status"]);
  assert.equal(finalStatus.code, 1);
  assert.match(finalStatus.stdout, /not running/);
  const stopAgain = await cli(["stop"]);
  assert.equal(stopAgain.code, 0);
  assert.match(stopAgain.stdout, /not running/);
  const registerStopped = await cli(["register", "carol"]);
  assert.equal(registerStopped.code, 1);
  assert.match(registerStopped.stderr, /not running: start it with/);
});

test("dev-server: usage errors", async () => {
  const [none, unknown, extra] = await Promise.all([cli([]), cli(["frob"]), cli(["status", "extra"])]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /dev-server needs a command/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown dev-server command "frob"/);
  assert.equal(extra.code, 2);
});
