/**
 * `npm run bench:appservice`: appservice mode next to sync mode, in process,
 * with the homeserver's side played by a scripted `fetch` (no Synapse), so
 * what is measured is niobot's own cost of taking events in:
 *
 * - **events/s**: 10 000 `m.room.message` events spread over the rooms, in
 *   batches of 100 (Synapse's transaction size; one sync response per batch in
 *   sync mode), until every `message` listener call has run;
 * - **memory with 10 000 rooms**: heap and RSS after a GC once the bot knows
 *   10 000 joined rooms (joined through transactions in appservice mode, from
 *   an initial sync in sync mode);
 * - **time to first answer**: from `start()` to a `!ping` reply being sent,
 *   the command arriving in the first transaction / first incremental sync.
 *
 * Each mode runs in its own Node process (`--expose-gc`). Results are printed
 * and appended to `bench/results.jsonl`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FetchLike } from "../src/api/http.js";
import { generateRegistration } from "../src/appservice/registration.js";
import { NioBot } from "../src/bot/bot.js";
import { silentLogger } from "../src/logging/logger.js";
import { MemoryStore } from "../src/storage/memory.js";

const ROOMS = 10_000;
const EVENTS = 10_000;
const BATCH = 100;
const USER = "@bench:localhost";

interface Figures {
  mode: string;
  eventsPerSecond: number;
  cpuMsPerEvent: number;
  heapMB: number;
  rssMB: number;
  firstAnswerMs: number;
}

const roomId = (i: number): string => `!room${i}:localhost`;
const message = (n: number, body = `event ${n}`) => ({
  type: "m.room.message",
  event_id: `$e${n}`,
  room_id: roomId(n % ROOMS),
  sender: "@human:localhost",
  origin_server_ts: Date.now(),
  content: { msgtype: "m.text", body },
});
const join = (i: number) => ({
  type: "m.room.member", state_key: USER, event_id: `$join${i}`, room_id: roomId(i), sender: USER, origin_server_ts: Date.now(), content: { membership: "join" },
});
const roomState = (i: number) => [
  { type: "m.room.create", state_key: "", event_id: `$c${i}`, room_id: roomId(i), sender: "@human:localhost", origin_server_ts: 0, content: { room_version: "11" } },
  { type: "m.room.member", state_key: "@human:localhost", event_id: `$m${i}`, room_id: roomId(i), sender: "@human:localhost", origin_server_ts: 0, content: { membership: "join" } },
  { type: "m.room.power_levels", state_key: "", event_id: `$p${i}`, room_id: roomId(i), sender: "@human:localhost", origin_server_ts: 0, content: { users: { "@human:localhost": 100 } } },
  join(i),
];

function gcMemory(): { heapMB: number; rssMB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 };
}

/** The homeserver's answers both modes need; `/sync` is left to the caller. */
function homeserver(sync: (url: URL, signal: AbortSignal | undefined) => Promise<unknown>, sent: () => void): FetchLike {
  const json = (body: unknown, status = 200): Response => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  return async (input, init) => {
    const url = new URL(input);
    const path = decodeURIComponent(url.pathname);
    if (path.endsWith("/account/whoami")) return json({ user_id: USER, device_id: "BENCH" });
    if (path.endsWith("/sync")) return json(await sync(url, init.signal ?? undefined));
    if (path.includes("/account_data/")) return json({ errcode: "M_NOT_FOUND", error: "none" }, 404);
    const state = /\/rooms\/!room(\d+):localhost\/state$/.exec(path);
    if (state) return json(roomState(Number(state[1])));
    if (path.includes("/send/")) {
      sent();
      return json({ event_id: `$sent${Math.random()}` });
    }
    return json({});
  };
}

async function measure(mode: "appservice" | "sync"): Promise<Figures> {
  let handled = 0;
  let done: () => void = () => undefined;
  let answered!: () => void;
  const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
  const batches: unknown[][] = [];
  let wake: (() => void) | undefined;
  const syncQueue: unknown[] = [];
  const fetch = homeserver(async (url, signal) => {
    if (!url.searchParams.get("since")) {
      // Sync mode's initial sync: every room, joined, with its state.
      const join: Record<string, unknown> = {};
      for (let i = 0; i < ROOMS; i++) join[roomId(i)] = { state: { events: roomState(i) }, timeline: { events: [] } };
      return { next_batch: "s0", rooms: { join } };
    }
    while (syncQueue.length === 0) {
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    return syncQueue.shift();
  }, () => answered());
  const registration = generateRegistration({ url: "http://127.0.0.1:0", serverName: "localhost", senderLocalpart: "bench" });
  const bot = new NioBot({
    homeserver: "http://homeserver.invalid",
    userId: USER,
    store: new MemoryStore(),
    logger: silentLogger,
    handleSignals: false,
    encryption: false,
    autoReadReceipts: false,
    helpCommand: false,
    fetch,
    ...(mode === "appservice" ? { appservice: { registration, listen: { port: 0 }, ping: false } } : {}),
  });
  bot.command("ping", (ctx) => ctx.respond("pong"));
  bot.on("message", () => {
    if (++handled === EVENTS) done();
  });
  let n = 0;
  const put = async (events: unknown[]): Promise<void> => {
    const res = await globalThis.fetch(`http://127.0.0.1:${bot.appservice.port}/_matrix/app/v1/transactions/${n++}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${registration.hs_token}`, "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    if (res.status !== 200) throw new Error(`transaction answered ${res.status}`);
  };
  const pushSync = (events: unknown[]): void => {
    const join: Record<string, { timeline: { events: unknown[] } }> = {};
    for (const e of events as { room_id: string }[]) (join[e.room_id] ??= { timeline: { events: [] } }).timeline.events.push(e);
    syncQueue.push({ next_batch: `s${n++ + 1}`, rooms: { join } });
    wake?.();
  };

  // Time to first answer: start, then the first thing the homeserver delivers is "!ping" in room 0.
  const started = performance.now();
  if (mode === "sync") pushSync([{ ...message(0, "!ping"), room_id: roomId(0), event_id: "$ping" }]);
  await bot.start({ accessToken: "bench-token" });
  if (mode === "appservice") {
    await put([join(0)]);
    await put([{ ...message(0, "!ping"), event_id: "$ping" }]);
  }
  await firstAnswer;
  const firstAnswerMs = performance.now() - started;
  handled = 0;

  // 10 000 rooms known.
  if (mode === "appservice") for (let i = 1; i < ROOMS; i += BATCH) await put(Array.from({ length: Math.min(BATCH, ROOMS - i) }, (_, k) => join(i + k)));
  if (bot.rooms.rooms.size !== ROOMS) throw new Error(`${bot.rooms.rooms.size} rooms known, expected ${ROOMS}`);
  const memory = gcMemory();

  for (let b = 0; b < EVENTS / BATCH; b++) batches.push(Array.from({ length: BATCH }, (_, k) => message(1 + b * BATCH + k)));
  const all = new Promise<void>((resolve) => (done = resolve));
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  if (mode === "appservice") for (const batch of batches) await put(batch);
  else for (const batch of batches) pushSync(batch);
  await all;
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  await bot.stop();
  return { mode, eventsPerSecond: EVENTS / seconds, cpuMsPerEvent: (used.user + used.system) / 1000 / EVENTS, ...memory, firstAnswerMs };
}

const modeArg = process.argv.indexOf("--mode");
if (modeArg > 0) {
  const figures = await measure(process.argv[modeArg + 1] as "appservice" | "sync");
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}

const runs = Number(process.env.BENCH_RUNS ?? 3);
const results: Figures[] = [];
const self = fileURLToPath(import.meta.url);
for (let run = 0; run < runs; run++)
  for (const mode of run % 2 === 0 ? ["sync", "appservice"] : ["appservice", "sync"]) {
    const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", self, "--mode", mode], { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`${mode} run failed:\n${child.stderr}`);
    results.push(JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}") as Figures);
  }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
})();
console.log(`| mode | events/s | CPU ms/event | heap with ${ROOMS} rooms | RSS with ${ROOMS} rooms | time to first answer |`);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const mode of ["sync", "appservice"]) {
  const of = results.filter((r) => r.mode === mode);
  const m = (k: keyof Omit<Figures, "mode">): number => median(of.map((r) => r[k]));
  console.log(`| ${mode} | ${m("eventsPerSecond").toFixed(0)} | ${m("cpuMsPerEvent").toFixed(3)} | ${m("heapMB").toFixed(0)} MB | ${m("rssMB").toFixed(0)} MB | ${m("firstAnswerMs").toFixed(0)} ms |`);
  appendFileSync(new URL("results.jsonl", import.meta.url), `${JSON.stringify({ time: new Date().toISOString(), commit, scenario: { name: "appservice-vs-sync", rooms: ROOMS, events: EVENTS }, runs: of })}\n`);
}
