/**
 * Where the background dev homeserver keeps its files, and the state file
 * through which `niobot dev-server start|stop|status|register` find it.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../devserver/rootfs.js";

/** What a running dev homeserver's runner writes once Synapse answers. */
export interface DevServerState {
  /** The runner process (`niobot dev-server run`), which owns Synapse. */
  pid: number;
  /** Synapse's own pid. */
  synapsePid: number | undefined;
  baseUrl: string;
  serverName: string;
  /** The shared registration secret. Never printed. */
  registrationSecret: string;
  dataDir: string;
  logFile: string | undefined;
  /** ISO time the server became ready. */
  startedAt: string;
}

/** Settings kept from one start to the next: the same URL keeps saved sessions working. */
export interface DevServerSettings {
  port?: number;
  serverName?: string;
}

/**
 * The dev server's directory: `$NIOBOT_DEV_SERVER_DIR`, else
 * `$XDG_DATA_HOME/niobot/dev-server`, else `~/.local/share/niobot/dev-server`.
 */
export function devServerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NIOBOT_DEV_SERVER_DIR) return env.NIOBOT_DEV_SERVER_DIR;
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "niobot", "dev-server");
}

/** The files in a dev server directory. */
export function devServerPaths(dir: string): { state: string; lock: string; log: string; data: string; settings: string } {
  return {
    state: join(dir, "state.json"),
    lock: join(dir, "runner.pid"),
    log: join(dir, "runner.log"),
    data: join(dir, "data"),
    settings: join(dir, "settings.json"),
  };
}

/** Creates the directory, private to its owner (it holds the registration secret). */
export async function ensureDevServerDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Whether `pid` is a live `niobot dev-server run` process. The command line
 * is checked so that a pid reused by an unrelated process is never signalled.
 */
export function isRunner(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("dev-server") && argv.includes("run");
  } catch {
    return true; // no /proc (not Linux): trust the liveness probe
  }
}

/** Writes a file readable by its owner only, atomically. */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Reads the saved settings (none on a first start). */
export async function readSettings(dir: string): Promise<DevServerSettings> {
  return (await readJson<DevServerSettings>(devServerPaths(dir).settings)) ?? {};
}

/**
 * The state of the running dev server, or undefined when none runs. A state
 * file left by a runner that died (SIGKILL, reboot) is removed; its lock is
 * left to the next runner, which replaces a lock whose owner is dead.
 */
export async function runningState(dir: string): Promise<DevServerState | undefined> {
  const paths = devServerPaths(dir);
  const state = await readJson<DevServerState>(paths.state);
  if (state && isRunner(state.pid)) return state;
  if (state) await rm(paths.state, { force: true });
  return undefined;
}

/** The pid of a runner that is alive (starting or running), if any. */
export async function runnerPid(dir: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(devServerPaths(dir).lock, "utf8").catch(() => ""), 10);
  return isRunner(pid) ? pid : undefined;
}
