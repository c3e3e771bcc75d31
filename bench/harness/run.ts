/** Setting up a scenario on the homeserver, and one measured run of one bot in it. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DevHomeserver } from "../../src/devserver/index.js";
import type { BotKind, Scenario } from "./args.js";
import { Client, PingUser, login, pool } from "./matrix.js";
import type { CountingProxy, TimedRequest } from "./proxy.js";
import { percentile, type RunMetrics } from "./stats.js";

const PASSWORD = "bench-password";
/** How long one reply may take before the run counts as failed. */
const PING_TIMEOUT_MS = 120_000;

/** A scenario's accounts and rooms, made once and shared by every run in it. */
export interface ScenarioSetup {
  scenario: Scenario;
  botLocalpart: string;
  botUserId: string;
  users: PingUser[];
}

/** What a kept data set (`hsdata=DIR`) remembers of a scenario, in DIR/bench-scenarios.json. */
interface KeptScenario {
  bot: string;
  /** Each user's localpart and their room with the bot. */
  users: { localpart: string; roomId: string }[];
}

const keptFile = (dir: string): string => join(dir, "bench-scenarios.json");

function readKept(dir: string | undefined): Record<string, KeptScenario> {
  if (!dir || !existsSync(keptFile(dir))) return {};
  return JSON.parse(readFileSync(keptFile(dir), "utf8")) as Record<string, KeptScenario>;
}

function writeKept(dir: string | undefined, tag: string, kept: KeptScenario): void {
  if (!dir) return;
  const all = readKept(dir);
  all[tag] = kept;
  writeFileSync(keptFile(dir), `${JSON.stringify(all, null, 2)}\n`);
}

/**
 * Registers the bot and the users, and puts the bot in `scenario.rooms` rooms.
 * With `keptDir` (the homeserver's kept data dir, `hsdata=`) it is idempotent: accounts already
 * recorded there are logged in instead of registered, their rooms reused, and only the rooms the
 * bot still lacks are created (so an interrupted set-up resumes).
 */
export async function setupScenario(
  hs: DevHomeserver, scenario: Scenario, concurrency: number, log: (m: string) => void, keptDir?: string,
): Promise<ScenarioSetup> {
  const tag = scenario.name.toLowerCase().replace(/[^a-z0-9]/g, "");
  const botLocalpart = `bench-${tag}-bot`;
  const prior = readKept(keptDir)[tag];
  const account = async (localpart: string): Promise<Client> => {
    if (prior) return (await login(hs.baseUrl, localpart, PASSWORD)).client;
    const reg = await hs.registerUser(localpart, PASSWORD);
    return new Client(hs.baseUrl, reg.accessToken, reg.userId);
  };
  const bot = await account(botLocalpart);
  const kept: KeptScenario = { bot: botLocalpart, users: [...(prior?.users ?? [])] };

  const started = performance.now();
  // Each user's own room with the bot (reused when kept), then rooms the bot is in and never hears from.
  const userRooms = await pool(Array.from({ length: scenario.users }, (_, i) => i), concurrency, async (i) => {
    const localpart = `bench-${tag}-user${i}`;
    const known = kept.users.find((u) => u.localpart === localpart);
    if (known) return { c: (await login(hs.baseUrl, localpart, PASSWORD)).client, roomId: known.roomId };
    const reg = await hs.registerUser(localpart, PASSWORD);
    const c = new Client(hs.baseUrl, reg.accessToken, reg.userId);
    const roomId = await c.createRoom([bot.userId]);
    await bot.join(roomId);
    kept.users.push({ localpart, roomId });
    return { c, roomId };
  });
  writeKept(keptDir, tag, kept);
  const joined = prior ? (await bot.call<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms.length : scenario.users;
  const missing = Math.max(0, scenario.rooms - joined);
  if (prior) log(`${scenario.name}: reusing the kept accounts; the bot is in ${joined} rooms, ${missing} to create`);
  const progress = (done: number): void => {
    const s = (performance.now() - started) / 1000;
    log(`${scenario.name}: ${done} of ${missing} rooms (${(done / s).toFixed(1)} rooms/s)`);
  };
  // The bot creates these itself: one request per room instead of a filler's createRoom, its invite
  // and the bot's join (10 000 rooms take Synapse long enough as it is). The rooms are alike for
  // the bot: its own membership, the creation state, nobody else talking.
  await pool(Array.from({ length: missing }, (_, i) => i), concurrency, async () => void (await bot.createRoom([])), progress);
  log(`${scenario.name}: bot in ${scenario.rooms} rooms, set up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // The set-up's own sessions are not the measured ones: each run logs the bot in afresh.
  if (keptDir) await bot.logout().catch(() => {});

  const users = userRooms.map(({ c, roomId }) => {
    const u = new PingUser(c, roomId);
    u.botUserId = bot.userId;
    return u;
  });
  await Promise.all(users.map((u) => u.start()));
  return { scenario, botLocalpart, botUserId: bot.userId, users };
}

/** One run: the metrics, the requests by shape during the load, and any error. */
export interface RunResult {
  metrics: RunMetrics;
  requests: Record<string, number>;
  /** The bot's requests from its spawn to the first answer, as the proxy saw them (ms since the spawn). */
  startRequests: TimedRequest[];
  replies: number;
}

interface Report { cpuMs: number; rssMB: number; heapMB: number; ready?: boolean }

function askReport(child: ChildProcess, gc = false): Promise<Report> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (typeof m === "object" && m !== null && (m as { type?: string }).type === "report") {
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m as Report);
      }
    };
    const onExit = (): void => reject(new Error("the bot exited before reporting"));
    child.on("message", onMessage);
    child.once("exit", onExit);
    child.send({ type: "report", gc });
  });
}

/** Peak resident set size (VmHWM) of a live process, in MB. */
function peakRssMB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

let recoveryKeys: string | undefined;
/**
 * Where the store bots keep their account's recovery key: for this bench invocation, or beside a
 * kept data set (`hsdata=`), whose accounts keep the cross-signing identity made by the first run.
 */
function recoveryKeyDir(keptDir?: string): string {
  if (keptDir) {
    mkdirSync(join(keptDir, "bench-recovery-keys"), { recursive: true });
    return join(keptDir, "bench-recovery-keys");
  }
  recoveryKeys ??= mkdtempSync(join(tmpdir(), "niobot-bench-keys-"));
  return recoveryKeys;
}

/** Spawns `kind` with a fresh login, waits for its first answer, puts the scenario's load on it, and stops it. */
export async function runBot(
  hs: DevHomeserver,
  proxy: CountingProxy,
  setup: ScenarioSetup,
  kind: BotKind,
  opts: { profDir?: string; startTimeoutMs: number; postgresUrl?: string; keptDir?: string },
): Promise<RunResult> {
  const { client: session, deviceId } = await login(hs.baseUrl, setup.botLocalpart, PASSWORD);
  const storeDir = kind === "niobot-store" ? mkdtempSync(join(tmpdir(), "niobot-bench-")) : undefined;
  const file = new URL(`../bots/${kind.startsWith("niobot-") ? "niobot" : kind}.mjs`, import.meta.url).pathname;
  // A fresh schema each run, as the SQLite bot gets a fresh file.
  const storeUrl = kind === "niobot-pg" ? `${opts.postgresUrl}${opts.postgresUrl?.includes("?") ? "&" : "?"}schema=bench_${Date.now()}_${process.pid}` : "";
  if (kind === "niobot-pg" && !opts.postgresUrl) throw new Error("niobot-pg needs a PostgreSQL server");
  const execArgv = ["--expose-gc", ...(opts.profDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.profDir}`, `--cpu-prof-name=${kind}-${Date.now()}.cpuprofile`] : [])];
  proxy.reset();
  const started = performance.now();
  const child = spawn(process.execPath, [...execArgv, file], {
    env: {
      ...process.env,
      BENCH_HS: proxy.url,
      BENCH_USER: setup.botUserId,
      BENCH_TOKEN: session.accessToken,
      BENCH_DEVICE: deviceId,
      BENCH_STORE: storeDir ? join(storeDir, "bot.db") : "",
      BENCH_STORE_URL: storeUrl,
      BENCH_SYNC_MODE: kind === "niobot-sliding" ? "sliding" : "",
      // One per bench invocation and bot account (a fresh Synapse each time): see bots/niobot.mjs.
      BENCH_RECOVERY_KEY_FILE: join(recoveryKeyDir(opts.keptDir), `${setup.botLocalpart}.key`),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<never>((_, reject) => child.once("exit", (code, signal) => reject(new Error(`${kind} exited early (${signal ?? code})`))));
  exited.catch(() => {});
  const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([p, exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${kind}: ${what} took over ${ms} ms`)), ms).unref())]);
  try {
    await within(proxy.listening(), opts.startTimeoutMs, "the initial sync");
    const [first, ...others] = setup.users;
    if (!first) throw new Error("a scenario needs a user");
    await within(first.ping(opts.startTimeoutMs), opts.startTimeoutMs, "the first answer");
    const startMs = performance.now() - started;
    const atFirst = await askReport(child);
    const startRequests = proxy.timeline();
    // A one-time set-up that finishes after the first answer (see bots/report.mjs) is its own
    // row: the load, and what it costs per reply, start once it is done.
    const atReady = await within(
      (async () => {
        let report = atFirst;
        while (report.ready === false) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          report = await askReport(child);
        }
        return report;
      })(),
      opts.startTimeoutMs,
      "the set-up",
    );
    const readyMs = atReady === atFirst ? startMs : performance.now() - started;
    const requestsBefore = proxy.counts();

    // The load: every user pings, waiting for each reply before the next ping.
    const { scenario } = setup;
    const latencies: number[] = [];
    await within(
      Promise.all(
        [first, ...others].map(async (u) => {
          for (let i = 0; i < scenario.pingsPerUser; i++) latencies.push(await u.ping(PING_TIMEOUT_MS));
        }),
      ),
      PING_TIMEOUT_MS * scenario.pingsPerUser,
      "the load",
    );
    const atEnd = await askReport(child);
    const requests = diff(proxy.counts(), requestsBefore);
    const peak = peakRssMB(child.pid ?? 0);
    const afterGc = await askReport(child, true);
    const replies = latencies.length;
    const total = Object.values(requests).reduce((a, b) => a + b, 0);
    return {
      replies,
      requests,
      startRequests,
      metrics: {
        requestsPerReply: total / replies,
        cpuMsPerReply: (atEnd.cpuMs - atReady.cpuMs) / replies,
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
        peakRssMB: peak,
        heapMB: afterGc.heapMB,
        startMs,
        startCpuMs: atFirst.cpuMs,
        readyMs,
        readyCpuMs: atReady.cpuMs,
      },
    };
  } finally {
    const gone = new Promise((resolve) => child.once("exit", resolve));
    if (child.exitCode === null && child.signalCode === null) {
      child.send("exit", () => {});
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      child.kill("SIGKILL");
    }
    await session.logout().catch(() => {});
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  }
}
