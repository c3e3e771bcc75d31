/**
 * `npx tsx bench/profile-top.ts FILE.cpuprofile [N]`: the top N costs of a
 * `--cpu-prof` profile (as `npm run bench -- prof=DIR` writes), by self time
 * per function and per file, so "the top three costs" can be named without
 * opening DevTools. `from=MS` leaves out the samples of the first MS ms of the profile (the
 * start-up: the bench's "start to first answer"), so what is left is the steady state per reply.
 */
import { readFileSync } from "node:fs";
import { selfTimes, summarize } from "./harness/profile.js";

const argv = process.argv.slice(2);
const fromMs = Number(argv.find((a) => a.startsWith("from="))?.slice(5) ?? 0);
const [file, n = "15"] = argv.filter((a) => !a.startsWith("from="));
if (!file) {
  console.error("usage: npx tsx bench/profile-top.ts FILE.cpuprofile [N] [from=MS]");
  process.exit(2);
}
const { byFunction, byFile, totalMs } = summarize(selfTimes(JSON.parse(readFileSync(file, "utf8")), fromMs));
const top = Number(n);
const pct = (ms: number): string => `${((100 * ms) / totalMs).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${totalMs.toFixed(0)} ms busy (idle left out${fromMs ? `; from ${fromMs} ms on` : ""})\n\nself time by function:`);
for (const [name, ms] of byFunction.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`);
console.log("\nself time by file:");
for (const [name, ms] of byFile.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`);
