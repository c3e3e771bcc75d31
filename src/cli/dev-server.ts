/**
 * `niobot dev-server start|stop|status|register`: a local Synapse for
 * development, running in the background with its data kept between runs.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadRegistration } from "../appservice/registration.js";
import { registerWithSharedSecret, RegistrationError } from "../devserver/register.js";
import { CliError, EXIT_FAILURE, table, usageError } from "./common.js";
import { devServerRun } from "./dev-server-run.js";
import { devServerDir, devServerPaths, ensureDevServerDir, isRunner, runnerPid, runningState, type DevServerState } from "./dev-server-state.js";
import type { Prompter } from "./prompt.js";

/** Help of `niobot dev-server`. */
export const devServerHelp = `Usage: niobot dev-server <start|stop|status|register> [options]

A local Synapse homeserver for development, running in the background. Its
data (accounts, rooms) is kept between runs, and it keeps its URL when it can.
Needs Linux and root (Synapse runs in a Debian chroot built on first use).

Commands:
  start [--port <n>] [--server-name <name>]   start it (does nothing if it runs)
        [--appservice <registration.yaml>]...  load appservice registrations
        [--appservice-encryption]              with MSC2409/MSC3202 turned on
  stop                                         stop it
  status [--json]                              is it running, and where (exit 1 if not)
  register <user> [--admin] [--password-stdin] create an account; prints the password it set

Files live in $NIOBOT_DEV_SERVER_DIR, default ~/.local/share/niobot/dev-server
(currently ${devServerDir()}).`;

/** How long `start` waits for a ready server; the first start builds the Synapse rootfs (~1 min). */
const START_TIMEOUT_MS = 15 * 60_000;

/** Runs `niobot dev-server ...`. */
export async function devServer(argv: string[], prompter: Prompter): Promise<number> {
  const [sub, ...rest] = argv;
  const dir = devServerDir();
  switch (sub) {
    case "start":
      return start(rest, dir);
    case "stop":
      return stop(rest, dir);
    case "status":
      return status(rest, dir);
    case "register":
      return register(rest, dir, prompter);
    case "run":
      return devServerRun(rest, dir);
    case undefined:
      throw usageError("dev-server needs a command: start, stop, status or register");
    default:
      throw usageError(`unknown dev-server command "${sub}" (expected start, stop, status or register)`);
  }
}

function noPositionals(what: string, positionals: string[]): void {
  if (positionals.length > 0) throw usageError(`dev-server ${what} takes no arguments (got "${positionals[0]}")`);
}

function printHowTo(state: DevServerState): void {
  console.log(`  create an account:  npx niobot dev-server register mybot`);
  console.log(`  log a bot in:       npx niobot login --homeserver ${state.baseUrl} --user mybot`);
  console.log(`  stop it:            npx niobot dev-server stop`);
}

async function start(argv: string[], dir: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      "server-name": { type: "string" },
      appservice: { type: "string", multiple: true },
      "appservice-encryption": { type: "boolean" },
    },
    allowPositionals: true,
  });
  noPositionals("start", positionals);
  const appservices = (values.appservice ?? []).map((path) => resolve(path));
  for (const path of appservices) {
    try {
      await loadRegistration(path);
    } catch (error) {
      throw new CliError(`--appservice ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const running = await runningState(dir);
  if (running) {
    if (appservices.length > 0) console.error("Note: registrations are loaded at start; stop the dev homeserver first to load them.");
    console.log(`The dev homeserver is already running at ${running.baseUrl} (server name ${running.serverName}).`);
    printHowTo(running);
    return 0;
  }
  if ((await runnerPid(dir)) !== undefined) throw new CliError("the dev homeserver is starting in another process; try `niobot dev-server status` in a moment");

  await ensureDevServerDir(dir);
  const paths = devServerPaths(dir);
  const script = process.argv[1];
  if (script === undefined) throw new CliError("cannot tell which script to run in the background");
  const passOn = [
    ...(values.port !== undefined ? ["--port", values.port] : []),
    ...(values["server-name"] !== undefined ? ["--server-name", values["server-name"]] : []),
    ...appservices.flatMap((path) => ["--appservice", path]),
    ...(values["appservice-encryption"] ? ["--appservice-encryption"] : []),
  ];
  const log = openSync(paths.log, "w", 0o600);
  // Detached, in its own session, with its output in a file: it outlives this
  // process and the terminal. execArgv carries loaders such as tsx along.
  const runner = spawn(process.execPath, [...process.execArgv, script, "dev-server", "run", ...passOn], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, NIOBOT_DEV_SERVER_DIR: dir },
  });
  closeSync(log);
  let exitCode: number | null | undefined;
  runner.on("exit", (code, signal) => (exitCode = code ?? (signal ? 1 : 0)));
  runner.unref();
  console.error(`Starting the dev homeserver (pid ${runner.pid}; log ${paths.log})...`);

  let shown = 0;
  const showProgress = async (): Promise<void> => {
    const text = await readFile(paths.log, "utf8").catch(() => "");
    const complete = text.slice(shown, text.lastIndexOf("\n") + 1);
    for (const line of complete.split("\n").filter(Boolean)) console.error(`  ${line}`);
    shown += complete.length;
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    await showProgress();
    // Usually our runner's state; after a race with another start, that one's, which is as good.
    const state = await runningState(dir);
    if (state) {
      console.log(`The dev homeserver is running at ${state.baseUrl} (server name ${state.serverName}).`);
      console.log(`Data is kept in ${state.dataDir}.`);
      printHowTo(state);
      return 0;
    }
    if (exitCode !== undefined && (await runnerPid(dir)) === undefined)
      throw new CliError(`the dev homeserver did not start (runner exited with code ${exitCode}); see the lines above or ${paths.log}`);
    if (Date.now() > deadline) throw new CliError(`the dev homeserver was not ready after ${START_TIMEOUT_MS / 60_000} minutes; see ${paths.log}`);
    await sleep(100);
  }
}

async function stop(argv: string[], dir: string): Promise<number> {
  const { positionals } = parseArgs({ args: argv, options: {}, allowPositionals: true });
  noPositionals("stop", positionals);
  const state = await runningState(dir);
  const pid = state?.pid ?? (await runnerPid(dir));
  if (pid === undefined) {
    console.log("The dev homeserver is not running.");
    return 0;
  }
  // The runner stops Synapse cleanly on SIGTERM (Synapse gets SIGTERM, then SIGKILL after 5 s).
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 20_000;
  while (isRunner(pid) && Date.now() < deadline) await sleep(100);
  if (isRunner(pid)) {
    process.kill(pid, "SIGKILL"); // Synapse follows: it runs with a parent-death signal
    throw new CliError(`the dev homeserver runner (pid ${pid}) did not stop within 20 s and was killed`);
  }
  await runningState(dir); // clears what a killed runner may have left
  console.log(`Stopped the dev homeserver${state ? ` at ${state.baseUrl}` : ""}.`);
  return 0;
}

async function status(argv: string[], dir: string): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: "boolean", default: false } }, allowPositionals: true });
  noPositionals("status", positionals);
  const state = await runningState(dir);
  const starting = state === undefined ? await runnerPid(dir) : undefined;
  const answers =
    state !== undefined &&
    (await fetch(`${state.baseUrl}/_matrix/client/versions`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok).catch(() => false));
  if (values.json) {
    const { registrationSecret: _secret, ...shown } = state ?? ({} as Partial<DevServerState>);
    console.log(JSON.stringify({ running: state !== undefined, starting: starting !== undefined, answers, ...shown }));
  } else if (state) {
    console.log(
      table([
        ["status", answers ? "running" : "running, but not answering"],
        ["url", state.baseUrl],
        ["server name", state.serverName],
        ["pid", `${state.pid} (Synapse ${state.synapsePid ?? "?"})`],
        ["since", state.startedAt],
        ["data", state.dataDir],
      ]),
    );
  } else {
    console.log(starting !== undefined ? `The dev homeserver is starting (pid ${starting}).` : "The dev homeserver is not running.");
  }
  return state !== undefined && answers ? 0 : EXIT_FAILURE;
}

async function register(argv: string[], dir: string, prompter: Prompter): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { admin: { type: "boolean", default: false }, "password-stdin": { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw usageError("dev-server register needs exactly one <user> (e.g. niobot dev-server register mybot)");
  const state = await runningState(dir);
  if (!state) throw new CliError("the dev homeserver is not running: start it with `niobot dev-server start`");

  const given = positionals[0] ?? "";
  const m = /^@?([^:@\s]+)(?::(.+))?$/.exec(given);
  if (!m?.[1]) throw usageError(`"${given}" is not a user name: expected mybot or @mybot:${state.serverName}`);
  if (m[2] !== undefined && m[2] !== state.serverName)
    throw usageError(`the dev homeserver's server name is ${state.serverName}, not ${m[2]}`);
  const localpart = m[1];

  const generated = !values["password-stdin"];
  const password = generated ? randomBytes(12).toString("base64url") : await prompter.readLine();
  if (password === "") throw usageError("empty password");
  let user;
  try {
    user = await registerWithSharedSecret(state.baseUrl, state.registrationSecret, localpart, password, { admin: values.admin });
  } catch (error) {
    if (error instanceof RegistrationError && error.errcode === "M_USER_IN_USE")
      throw new CliError(`${localpart} already exists on the dev homeserver; pick another name`);
    if (error instanceof RegistrationError && error.errcode === "M_INVALID_USERNAME")
      throw new CliError(`"${localpart}" is not allowed as a user name (use lower-case letters, digits and ._=-/)`);
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
  console.log(`Registered ${user.userId}${values.admin ? " (server admin)" : ""}.`);
  if (generated) console.log(`Password: ${password}`);
  console.log(`Log a bot in as it: npx niobot login --homeserver ${state.baseUrl} --user ${user.userId}`);
  return 0;
}
