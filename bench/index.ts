/**
 * `npm run bench`: niobot side by side with a bare fetch-and-sync bot on the
 * same local Synapse. For each bot, in its own process:
 * - time from process start to the first answer,
 * - per handled `!ping`: homeserver requests, bot CPU, Synapse CPU,
 * - memory with many joined rooms.
 * `npm run bench` then runs bench/crypto.ts (encrypt/decrypt cost per message).
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { MatrixApi } from "../src/api/client.js";
import { startDevHomeserver, type DevHomeserver, type RegisteredUser } from "../src/devserver/index.js";

const PINGS = Number(process.env.BENCH_PINGS ?? 100);
const ROOMS = Number(process.env.BENCH_ROOMS ?? 200);

interface Report { cpuMs: number; heapUsedMB: number; rssMB: number; requests: Record<string, number> }

function synapseCpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  // utime + stime of the Synapse process (fields 14 and 15), in clock ticks (100 Hz on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function spawnBot(kind: string, hs: DevHomeserver, bot: RegisteredUser): { child: ChildProcess; ready: Promise<void> } {
  const child = fork(new URL(`./bots/${kind}-bot.ts`, import.meta.url).pathname, [], {
    execArgv: ["--import", "tsx", "--expose-gc", ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    env: { ...process.env, BENCH_HS: hs.baseUrl, BENCH_USER: bot.userId, BENCH_TOKEN: bot.accessToken },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (m) => m === "ready" && resolve());
    child.once("exit", (code) => reject(new Error(`${kind} bot exited with ${code}`)));
  });
  return { child, ready };
}

function report(child: ChildProcess): Promise<Report> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (typeof m === "object" && m !== null && "cpuMs" in m) {
        child.off("message", on);
        resolve(m as Report);
      }
    };
    child.on("message", on);
    child.send("report");
  });
}

/** Sends `!ping` and waits for the bot's `pong` in the room, syncing as the driver. */
async function ping(driver: MatrixApi, roomId: string, botId: string, state: { since?: string }): Promise<void> {
  await driver.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "!ping" });
  for (;;) {
    const sync = await driver.sync.sync({ since: state.since, timeout: 10_000 });
    state.since = sync.next_batch;
    const events = sync.rooms?.join?.[roomId]?.timeline?.events ?? [];
    if (events.some((e) => e.sender === botId && e.content.body === "pong")) return;
  }
}

async function measure(kind: string, hs: DevHomeserver) {
  const driverUser = await hs.registerUser(`driver-${kind}`, "pw");
  const botUser = await hs.registerUser(`bench-${kind}`, "pw");
  const driver = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: driverUser.accessToken });
  const botApi = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: botUser.accessToken });
  const { room_id: roomId } = await driver.rooms.create({ preset: "private_chat", invite: [botUser.userId] });
  await botApi.rooms.join(roomId);
  // Many joined rooms, to see memory grow (or not) with rooms the bot never uses.
  for (let i = 0; i < ROOMS; i++) {
    const { room_id } = await driver.rooms.create({ preset: "private_chat", invite: [botUser.userId], name: `room ${i}` });
    await botApi.rooms.join(room_id);
  }
  const state: { since?: string } = {};
  await driver.sync.sync({ timeout: 0 }).then((s) => (state.since = s.next_batch));

  const started = performance.now();
  const { child, ready } = spawnBot(kind, hs, botUser);
  await ready;
  await ping(driver, roomId, botUser.userId, state);
  const firstAnswerMs = performance.now() - started;

  const before = await report(child);
  const synapseBefore = synapseCpuMs(hs.pid);
  for (let i = 0; i < PINGS; i++) await ping(driver, roomId, botUser.userId, state);
  const synapseAfter = synapseCpuMs(hs.pid);
  const after = await report(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.send("exit");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  child.kill("SIGKILL");

  const requestsDuring = Object.entries(after.requests).map(([k, v]) => [k, v - (before.requests[k] ?? 0)] as const).filter(([, v]) => v > 0);
  const totalRequests = requestsDuring.reduce((a, [, v]) => a + v, 0);
  return {
    kind,
    firstAnswerMs,
    requestsPerCommand: totalRequests / PINGS,
    requestBreakdown: Object.fromEntries(requestsDuring.map(([k, v]) => [k, +(v / PINGS).toFixed(2)])),
    botCpuMsPerCommand: (after.cpuMs - before.cpuMs) / PINGS,
    synapseCpuMsPerCommand: (synapseAfter - synapseBefore) / PINGS,
    heapUsedMB: after.heapUsedMB,
    rssMB: after.rssMB,
  };
}

const hs = await startDevHomeserver({ onProgress: (m) => console.log(`# ${m}`) });
try {
  const results: Awaited<ReturnType<typeof measure>>[] = [];
  for (const kind of ["bare", "niobot"]) results.push(await measure(kind, hs));
  console.log(`\n${PINGS} sequential !ping commands, bot joined to ${ROOMS + 1} rooms, Synapse on loopback\n`);
  const rows: [string, (r: (typeof results)[number]) => string][] = [
    ["start to first answer (ms)", (r) => r.firstAnswerMs.toFixed(0)],
    ["homeserver requests per command", (r) => r.requestsPerCommand.toFixed(2)],
    ["bot CPU per command (ms)", (r) => r.botCpuMsPerCommand.toFixed(2)],
    ["Synapse CPU per command (ms)", (r) => r.synapseCpuMsPerCommand.toFixed(1)],
    ["bot heap after GC (MB)", (r) => r.heapUsedMB.toFixed(1)],
    ["bot RSS (MB)", (r) => r.rssMB.toFixed(1)],
  ];
  console.log(`| metric | ${results.map((r) => r.kind).join(" | ")} |`);
  console.log(`| --- | ${results.map(() => "---").join(" | ")} |`);
  for (const [name, f] of rows) console.log(`| ${name} | ${results.map(f).join(" | ")} |`);
  for (const r of results) console.log(`\n${r.kind} requests per command: ${JSON.stringify(r.requestBreakdown)}`);
} finally {
  await hs.stop();
}
