/**
 * `npm run bench`: the raw floor, matrix-bot-sdk, niobot without a store and
 * niobot with its default store, side by side on one local Synapse, each
 * answering `!ping` with a reply. Every bot runs from built JavaScript in its
 * own process and talks to Synapse through a counting proxy. Runs are
 * interleaved; the table shows medians and ratios to the floor, and each run
 * is appended as one JSON line to `bench/results.jsonl`.
 *
 * `npm run bench -- help` lists the options; bench/README.md says what is measured and how.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { startDevHomeserver } from "../src/devserver/index.js";
import { postgresUnavailable, startTestPostgres, type TestPostgres } from "../test/helpers/postgres.js";
import { USAGE, parseBenchArgs, runOrder, type BotKind } from "./harness/args.js";
import { measureImport, packageOf, renderImportTable, type ImportMetrics } from "./harness/imports.js";
import { startCountingProxy } from "./harness/proxy.js";
import { runBot, setupScenario, type RunResult } from "./harness/run.js";
import { median, renderTable, type RunMetrics } from "./harness/stats.js";

let opts;
try {
  opts = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
if (opts.bots.some((b) => b.startsWith("niobot")) && !existsSync(new URL("../dist/index.js", import.meta.url)))
  throw new Error("niobot runs from dist/: run `npm run build` first (npm run bench does)");

const log = (m: string): void => console.log(`# ${m}`);
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
})();
mkdirSync(dirname(opts.out), { recursive: true });
if (opts.profDir) mkdirSync(opts.profDir, { recursive: true });

const fmt = (m: RunMetrics): string =>
  `${m.requestsPerReply.toFixed(2)} req/reply, CPU ${m.cpuMsPerReply.toFixed(2)} ms/reply, p50 ${m.p50Ms.toFixed(0)} ms, ` +
  `peak RSS ${m.peakRssMB.toFixed(0)} MB, first answer ${(m.startMs / 1000).toFixed(2)} s (CPU ${m.startCpuMs.toFixed(0)} ms)`;

const tables: string[] = [];
if (opts.imports) {
  // One column per package: niobot and niobot-store load the same one.
  const bots = opts.bots.filter((b, i) => opts.bots.findIndex((o) => packageOf(o) === packageOf(b)) === i);
  const runs = new Map<BotKind, ImportMetrics[]>(bots.map((b) => [b, []]));
  for (let run = 0; run < opts.runs; run++)
    for (const bot of runOrder(bots, run)) {
      const m = await measureImport(packageOf(bot));
      runs.get(bot)?.push(m);
      appendFileSync(opts.out, `${JSON.stringify({ time: new Date().toISOString(), commit, scenario: { name: "import" }, bot, package: packageOf(bot) || "(none)", run: run + 1, cpus: cpus().length, loadavg1: loadavg()[0], metrics: m })}\n`);
    }
  const table = renderImportTable(bots.map((b) => ({ name: b === "floor" ? "node alone (floor)" : packageOf(b), runs: runs.get(b) ?? [] })));
  tables.push(`import: a fresh process importing the bot's package, medians of ${opts.runs} interleaved run${opts.runs === 1 ? "" : "s"}\n\n${table}`);
  console.log(`\n${tables[0]}\n`);
}
if (opts.scenarios.length === 0) process.exit(0);

// niobot-pg: a throwaway PostgreSQL with fsync on (a real server's cost), or BENCH_POSTGRES_URL.
let postgres: TestPostgres | undefined;
let postgresUrl = process.env.BENCH_POSTGRES_URL;
if (opts.bots.includes("niobot-pg") && !postgresUrl) {
  const missing = postgresUnavailable();
  if (missing) {
    log(`skipping niobot-pg: ${missing}`);
    opts.bots = opts.bots.filter((b) => b !== "niobot-pg");
  } else {
    postgres = await startTestPostgres({ durable: true });
    postgresUrl = postgres.url;
  }
}
const hs = await startDevHomeserver({ onProgress: log, ...(opts.hsData ? { dataDir: resolve(opts.hsData), keepData: true } : {}) });
const proxy = await startCountingProxy(hs.baseUrl);
try {
  log(`Synapse at ${hs.baseUrl}; ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  for (const scenario of opts.scenarios) {
    const setup = await setupScenario(hs, scenario, opts.concurrency, log, hs.dataDir && opts.hsData ? hs.dataDir : undefined);
    const results = new Map<BotKind, RunResult[]>(opts.bots.map((b) => [b, []]));
    const requestsByBot = new Map<BotKind, Record<string, number>[]>(opts.bots.map((b) => [b, []]));
    // Start-up grows with rooms: Synapse's initial sync alone took ~30 s at 2000 rooms on this machine.
    const startTimeoutMs = 120_000 + scenario.rooms * 100;
    for (let run = 0; run < opts.runs; run++) {
      for (const bot of runOrder(opts.bots, run)) {
        const load = loadavg()[0] ?? NaN;
        const record: Record<string, unknown> = {
          time: new Date().toISOString(), commit, scenario, bot, run: run + 1, cpus: cpus().length, loadavg1: load,
        };
        try {
          const r = await runBot(hs, proxy, setup, bot, { profDir: opts.profDir, startTimeoutMs, postgresUrl, keptDir: opts.hsData ? hs.dataDir : undefined });
          results.get(bot)?.push(r);
          requestsByBot.get(bot)?.push(r.requests);
          Object.assign(record, { replies: r.replies, metrics: r.metrics, requests: r.requests, startRequests: r.startRequests });
          log(`${scenario.name} run ${run + 1}/${opts.runs} ${bot}: ${fmt(r.metrics)}`);
        } catch (error) {
          record.error = (error as Error).message;
          log(`${scenario.name} run ${run + 1}/${opts.runs} ${bot} FAILED: ${(error as Error).message}`);
        }
        appendFileSync(opts.out, `${JSON.stringify(record)}\n`);
      }
    }
    await Promise.all(setup.users.map((u) => u.stop()));

    const title =
      `${scenario.name}: ${scenario.users} user${scenario.users === 1 ? "" : "s"} × ${scenario.pingsPerUser} pings, ` +
      `bot in ${scenario.rooms} rooms; medians of ${opts.runs} interleaved run${opts.runs === 1 ? "" : "s"}, ratios to the first column`;
    const table = renderTable(opts.bots.map((b) => ({ name: b, runs: (results.get(b) ?? []).map((r) => r.metrics) })));
    const breakdown = opts.bots
      .map((b) => {
        const runs = requestsByBot.get(b) ?? [];
        const replies = median((results.get(b) ?? []).map((r) => r.replies));
        const shapes = [...new Set(runs.flatMap((r) => Object.keys(r)))].sort();
        const parts = shapes.map((s) => `${s} ${(median(runs.map((r) => r[s] ?? 0)) / replies).toFixed(2)}`);
        return `- ${b}: ${parts.join(", ") || "no successful run"}`;
      })
      .join("\n");
    tables.push(`${title}\n\n${table}\n\nRequests per reply by endpoint (medians):\n${breakdown}`);
    console.log(`\n${tables[tables.length - 1]}\n`);
  }
} finally {
  await proxy.close();
  await hs.stop();
  await postgres?.stop();
}
log(`load average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")}; results appended to ${opts.out}`);
if (tables.length > 1) console.log(`\n${tables.join("\n\n")}`);
