/**
 * `niobot dev-server run` (hidden): the background process that `start`
 * launches. It owns Synapse, writes the state file once Synapse answers, and
 * on SIGTERM stops Synapse cleanly and removes the state file.
 */
import { open, rm, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { isAlive } from "../devserver/rootfs.js";
import { startDevHomeserver, type DevHomeserver } from "../devserver/synapse.js";
import { CliError, usageError } from "./common.js";
import { devServerPaths, ensureDevServerDir, isRunner, readSettings, writePrivateJson, type DevServerState } from "./dev-server-state.js";

/** The port tried first on a first start: Synapse's usual one. */
export const PREFERRED_PORT = 8008;

/** Whether a loopback port can be listened on right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Takes the runner lock (a pid file created exclusively); false if a live runner holds it. */
async function takeLock(lock: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(lock, "wx", 0o600);
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number.parseInt(await readFile(lock, "utf8").catch(() => ""), 10);
    if (isRunner(owner)) return false;
    await rm(lock, { force: true });
  }
  return false;
}

/**
 * Runs the dev homeserver in the foreground until SIGTERM or SIGINT. Its
 * output (progress, errors) is the runner log that `start` shows.
 */
export async function devServerRun(argv: string[], dir: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      "server-name": { type: "string" },
      appservice: { type: "string", multiple: true },
      "appservice-encryption": { type: "boolean" },
    },
  });
  await ensureDevServerDir(dir);
  const paths = devServerPaths(dir);
  if (!(await takeLock(paths.lock))) {
    console.log("another dev server runner is already running");
    return 0;
  }

  const stopRequested = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => stopRequested.abort());
  let hs: DevHomeserver | undefined;
  try {
    const saved = await readSettings(dir);
    const serverName = values["server-name"] ?? saved.serverName ?? "localhost";
    if (saved.serverName !== undefined && serverName !== saved.serverName)
      throw new CliError(`the data in ${paths.data} belongs to server name "${saved.serverName}"; remove that directory to start over as "${serverName}"`);
    let port: number | undefined;
    if (values.port !== undefined) {
      port = Number(values.port);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw usageError(`--port must be a port number (got "${values.port}")`);
    } else {
      // Same URL as last time if possible, so saved sessions (.env files) keep working.
      for (const candidate of [saved.port, PREFERRED_PORT]) {
        if (candidate !== undefined && (await portFree(candidate))) {
          port = candidate;
          break;
        }
      }
    }

    hs = await startDevHomeserver({
      dataDir: paths.data,
      keepData: true,
      port,
      serverName,
      appservices: (values.appservice ?? []).map((path) => ({ path })),
      appserviceEncryption: values["appservice-encryption"] ?? false,
      signal: stopRequested.signal,
      onProgress: (m) => console.log(m),
    });
    await writePrivateJson(paths.settings, { port: Number(new URL(hs.baseUrl).port), serverName });
    const state: DevServerState = {
      pid: process.pid,
      synapsePid: hs.pid,
      baseUrl: hs.baseUrl,
      serverName: hs.serverName,
      registrationSecret: hs.registrationSecret,
      dataDir: paths.data,
      logFile: hs.logFile,
      startedAt: new Date().toISOString(),
    };
    await writePrivateJson(paths.state, state);
    console.log(`ready: ${hs.baseUrl}`);

    while (!stopRequested.signal.aborted) {
      if (hs.pid !== undefined && !isAlive(hs.pid)) throw new CliError(`Synapse (pid ${hs.pid}) exited on its own; see ${hs.logFile}`);
      await sleep(1_000, undefined, { signal: stopRequested.signal }).catch(() => {});
    }
    console.log("stopping");
    return 0;
  } catch (error) {
    if (stopRequested.signal.aborted) return 0; // stopped while starting
    throw error;
  } finally {
    await rm(paths.state, { force: true });
    await hs?.stop();
    await rm(paths.lock, { force: true });
    console.log("stopped");
  }
}
