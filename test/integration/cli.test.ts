/**
 * The `niobot` command-line tool, run as a child process against the test
 * homeserver: login, whoami, resolve, version and usage errors.
 * (`init` and `dev-server` have their own files.)
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { parseEnv } from "../../src/auth/envfile.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { homeserver, newUser } from "../helpers/matrix.js";

const cleanups: Array<() => void> = [];
function scratch(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.dir;
}
after(() => cleanups.forEach((c) => c()));

const localpart = (userId: string): string => userId.slice(1, userId.indexOf(":"));

describe("niobot login", () => {
  test("prompts over piped stdin, writes a private env file with a working token, keeps other keys", async () => {
    const hs = await homeserver();
    const account = await newUser("cli");
    const dir = scratch();
    const envFile = join(dir, ".env");
    writeFileSync(envFile, "# my settings\nBOT_PREFIX=?\nMATRIX_ACCESS_TOKEN=stale\n");
    chmodSync(envFile, 0o644);

    const r = await runCli(["login", "--env-file", envFile, "--device-name", "cli test"], {
      input: `${hs.baseUrl}\n${localpart(account.userId)}\n${account.password}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(envFile).mode & 0o777, 0o600, "the file holds a token: owner only");
    const text = readFileSync(envFile, "utf8");
    const env = parseEnv(text);
    assert.equal(env.BOT_PREFIX, "?", "other keys are kept");
    assert.ok(text.startsWith("# my settings\n"), "comments are kept");
    assert.equal(env.MATRIX_HOMESERVER, hs.baseUrl);
    assert.equal(env.MATRIX_USER_ID, account.userId, "a bare user name is saved as the full user id");
    assert.ok(env.MATRIX_ACCESS_TOKEN && env.MATRIX_ACCESS_TOKEN !== "stale");
    assert.ok(env.MATRIX_DEVICE_ID);
    assert.equal(text.match(/^MATRIX_ACCESS_TOKEN=/gm)?.length, 1, "the old token line is replaced, not duplicated");

    assert.ok(!r.stdout.includes(env.MATRIX_ACCESS_TOKEN) && !r.stderr.includes(env.MATRIX_ACCESS_TOKEN), "the token is never shown");
    assert.ok(!r.stdout.includes(account.password) && !r.stderr.includes(account.password), "the password is never echoed");
    assert.match(r.stdout, /Logged in as @cli-/);
    assert.match(r.stdout, /its mode was 0644/);

    // The token works, for the device the file names, and that device has the requested name.
    const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: env.MATRIX_ACCESS_TOKEN });
    const me = await api.account.whoami();
    assert.equal(me.user_id, account.userId);
    assert.equal(me.device_id, env.MATRIX_DEVICE_ID);
    const device = await api.http.request<{ display_name?: string }>({
      method: "GET",
      path: `/_matrix/client/v3/devices/${encodeURIComponent(env.MATRIX_DEVICE_ID)}`,
    });
    assert.equal(device.display_name, "cli test");

    // whoami reads the same file.
    const who = await runCli(["whoami", "--env-file", envFile]);
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, new RegExp(`user\\s+${account.userId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match(who.stdout, new RegExp(`device\\s+${env.MATRIX_DEVICE_ID}`));

    // Revoke the token: whoami says so clearly.
    await api.account.logout();
    const revoked = await runCli(["whoami", "--env", envFile]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /rejected .*M_UNKNOWN_TOKEN.*revoked/);
    assert.match(revoked.stderr, /niobot login/);
  });

  test("flags and --password-stdin; a full user id; a new file; --show-token prints the token", async () => {
    const hs = await homeserver();
    const account = await newUser("cli");
    const envFile = join(scratch(), "bot.env");
    const r = await runCli(
      ["login", "--homeserver", hs.baseUrl, "--user", account.userId, "--password-stdin", "--env", envFile, "--show-token"],
      { input: `${account.password}\n` },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    const env = parseEnv(readFileSync(envFile, "utf8"));
    assert.equal(env.MATRIX_USER_ID, account.userId);
    assert.ok(env.MATRIX_ACCESS_TOKEN);
    assert.ok(r.stdout.includes(`Access token: ${env.MATRIX_ACCESS_TOKEN}`));
    assert.equal(r.stderr.includes("Password"), false, "no prompt with --password-stdin");
    const json = await runCli(["whoami", "--env", envFile, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    // Synapse issues refreshable tokens (5 minutes by default) to a login that asks for a refresh token.
    const expiresAt = Date.parse(env.MATRIX_TOKEN_EXPIRES_AT ?? "");
    assert.ok(env.MATRIX_REFRESH_TOKEN && expiresAt > Date.now());
    assert.deepEqual(JSON.parse(json.stdout), { userId: account.userId, deviceId: env.MATRIX_DEVICE_ID, homeserver: hs.baseUrl, isGuest: false, expiresAt, refreshToken: true });
  });

  test("a wrong password: clear error, exit 1, no file written", async () => {
    const hs = await homeserver();
    const account = await newUser("cli");
    const envFile = join(scratch(), ".env");
    const r = await runCli(["login", "--env", envFile], { input: `${hs.baseUrl}\n${account.userId}\nnot-the-password\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong user or password/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");
    assert.equal(existsSync(envFile), false);
  });

  test("an unreachable homeserver and a bad server name: exit 1, clear errors", async () => {
    const dir = scratch();
    const down = await runCli(["login", "--homeserver", "http://127.0.0.1:1", "--user", "u", "--password-stdin", "--env", join(dir, ".env")], { input: "pw\n" });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot use homeserver "http:\/\/127\.0\.0\.1:1": .*does not answer as a Matrix homeserver/);
    const bad = await runCli(["login", "--env", join(dir, ".env")], { input: "not a server!\n" });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a valid server name/);
    assert.equal(existsSync(join(dir, ".env")), false);
  });

  test("usage errors exit 2: --password-stdin without --user, input ending early, a malformed user id", async () => {
    const hs = await homeserver();
    const noUser = await runCli(["login", "--homeserver", hs.baseUrl, "--password-stdin"], { input: "pw\n" });
    assert.equal(noUser.code, 2);
    assert.match(noUser.stderr, /--password-stdin needs --homeserver and --user/);
    const ended = await runCli(["login", "--env", join(scratch(), ".env")], { input: `${hs.baseUrl}\n` });
    assert.equal(ended.code, 1);
    assert.match(ended.stderr, /standard input ended before an answer to "User/);
    const malformed = await runCli(["login", "--homeserver", hs.baseUrl, "--user", "@nocolon", "--env", join(scratch(), ".env")], { input: "" });
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /not a user id/);
  });
});

describe("niobot whoami", () => {
  test("without a session it says to log in", async () => {
    const r = await runCli(["whoami", "--env", join(scratch(), "absent.env")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no session: MATRIX_HOMESERVER and MATRIX_ACCESS_TOKEN not set.*niobot login/);
  });

  test("variables in the environment win over the file", async () => {
    const hs = await homeserver();
    const account = await newUser("cli");
    const envFile = join(scratch(), ".env");
    writeFileSync(envFile, `MATRIX_HOMESERVER=${hs.baseUrl}\nMATRIX_ACCESS_TOKEN=revoked-or-bogus\n`);
    const r = await runCli(["whoami", "--env", envFile], { env: { MATRIX_ACCESS_TOKEN: account.accessToken } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(account.userId));
  });
});

describe("niobot resolve", () => {
  test("the test homeserver: base URL, versions, reachable", async () => {
    const hs = await homeserver();
    const r = await runCli(["resolve", hs.baseUrl]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`homeserver\\s+${hs.baseUrl}`));
    assert.match(r.stdout, /spec versions\s+.*v1\.\d+/);
    assert.match(r.stdout, /reachable\s+yes/);
    const json = await runCli(["resolve", hs.baseUrl, "--json"]);
    const found = JSON.parse(json.stdout) as { baseUrl: string; versions: string[]; reachable: boolean; fromWellKnown: boolean };
    assert.equal(found.baseUrl, hs.baseUrl);
    assert.equal(found.reachable, true);
    assert.equal(typeof found.fromWellKnown, "boolean");
    const versions = (await new MatrixApi({ baseUrl: hs.baseUrl }).account.versions()).versions;
    assert.deepEqual(found.versions, versions, "exactly what the server answers");
  });

  test("an unreachable server: exit 1 and the network reason", async () => {
    const r = await runCli(["resolve", "http://127.0.0.1:1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot resolve "http:\/\/127\.0\.0\.1:1": http:\/\/127\.0\.0\.1:1 does not answer as a Matrix homeserver/);
    assert.doesNotMatch(r.stderr, /fetch failed/, "the underlying reason, not undici's generic message");
    assert.equal(r.stdout, "");
  });

  test("a bad server name: exit 1; no name: exit 2", async () => {
    const bad = await runCli(["resolve", "not a server!"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /"not a server!" is not a valid server name/);
    const none = await runCli(["resolve"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /resolve needs exactly one <server-name>/);
  });
});

describe("niobot version and usage", () => {
  test("version prints niobot, Node, platform, E2EE and SQLite availability", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    const r = await runCli(["version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`niobot\\s+${pkg.version.replace(/\./g, "\\.")}`));
    assert.ok(r.stdout.includes(process.version));
    assert.match(r.stdout, new RegExp(`platform\\s+${process.platform}`));
    assert.match(r.stdout, /e2ee crypto\s+(available \(@matrix-org\/matrix-sdk-crypto-wasm|not available)/);
    assert.match(r.stdout, /sqlite store\s+available \(better-sqlite3 \d+\./, "better-sqlite3 is a dependency: it must load");
    const json = JSON.parse((await runCli(["version", "--json"])).stdout) as { niobot: string; node: string; sqlite: { available: boolean } };
    assert.equal(json.niobot, pkg.version);
    assert.equal(json.node, process.version);
    assert.equal(json.sqlite.available, true);
    assert.equal((await runCli(["--version"])).stdout.trim(), pkg.version);
  });

  test("--help for every command; unknown commands and options exit 2", async () => {
    const commands = ["login", "whoami", "resolve", "init", "dev-server", "version"];
    // Independent runs, in parallel: each is a Node start-up.
    const [general, helpTopic, none, unknown, badFlag, ...helps] = await Promise.all([
      runCli(["--help"]),
      runCli(["help", "resolve"]),
      runCli([]),
      runCli(["frobnicate"]),
      runCli(["version", "--frob"]),
      ...commands.map((c) => runCli([c, "--help"])),
    ]);
    for (const [i, command] of commands.entries()) {
      const r = helps[i];
      assert.ok(r);
      assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`Usage: niobot ${command}`), `${command} --help: ${r.stdout}`);
    }
    assert.equal(general.code, 0);
    assert.match(general.stdout, /Commands:[\s\S]*login[\s\S]*dev-server/);
    assert.ok(helpTopic.stdout.startsWith("Usage: niobot resolve"));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: niobot <command>/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Unknown option '--frob'[\s\S]*niobot version --help/);
  });
});
