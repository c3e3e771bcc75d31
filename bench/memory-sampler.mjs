/* global process, performance, setInterval */
/**
 * What a bench bot's peak RSS is made of: `NODE_OPTIONS="--import $PWD/bench/memory-sampler.mjs"
 * npm run bench -- ...` loads this into every process, and it acts only in the bots (BENCH_HS set).
 * Every 10 ms it samples `process.memoryUsage()` and `v8.getHeapSpaceStatistics()`; at exit it writes
 * the sample taken at the highest RSS, each space's largest physical size and a coarse series to
 * `$MEMORY_SAMPLES_DIR/<bot>-<store|nostore>-<time>.json` (default the system's temporary directory).
 * `MEMORY_TRACE_GC=1` also turns on `--trace-gc-nvp` in the bots (one line per collection on their
 * standard output, with the bytes that survived and were promoted).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import v8 from "node:v8";

if (process.env.BENCH_HS) {
  const MB = 2 ** 20;
  const name = `${basename(process.argv[1] ?? "bot", ".mjs")}-${process.env.BENCH_STORE ? "store" : "nostore"}-${Date.now()}.json`;
  const out = join(process.env.MEMORY_SAMPLES_DIR ?? tmpdir(), name);
  const round = (x) => Math.round((x / MB) * 10) / 10;
  let peak;
  let n = 0;
  const maxPhysical = {};
  const series = [];
  const sample = () => {
    const mem = process.memoryUsage();
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) {
      if (s.space_size === 0) continue;
      spaces[s.space_name] = { size: round(s.space_size), used: round(s.space_used_size), physical: round(s.physical_space_size) };
      maxPhysical[s.space_name] = Math.max(maxPhysical[s.space_name] ?? 0, round(s.physical_space_size));
    }
    const s = { t: Math.round(performance.now()), rss: round(mem.rss), heapTotal: round(mem.heapTotal), heapUsed: round(mem.heapUsed), external: round(mem.external), arrayBuffers: round(mem.arrayBuffers), spaces };
    if (n++ % 50 === 0) series.push({ t: s.t, rss: s.rss, heapUsed: s.heapUsed, newSpace: spaces.new_space?.size, oldSpace: spaces.old_space?.size });
    if (!peak || s.rss > peak.rss) peak = s;
  };
  setInterval(sample, 10).unref();
  if (process.env.MEMORY_TRACE_GC === "1") v8.setFlagsFromString("--trace-gc-nvp");
  process.on("exit", () => {
    sample();
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024;
    writeFileSync(out, JSON.stringify({ peakRssMB: hwm, atPeak: peak, maxPhysical, series }, null, 1));
  });
}
