/** Self time per function and per file from a V8 `.cpuprofile`. */

/** The parts of a V8 CPU profile read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/**
 * Self time in ms per profile node id, from the samples and their time deltas; with `fromMs`,
 * only the samples taken that long or longer after the profile started (the steady state after
 * the start-up, e.g. after the bench's first answer).
 */
export function selfTimes(profile: CpuProfile, fromMs = 0): { profile: CpuProfile; ms: Map<number, number> } {
  const ms = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample's time is the gap to the next sample (the last one gets the mean).
  const mean = samples.length ? (profile.endTime - profile.startTime) / samples.length : 0;
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    at += (deltas[i] as number | undefined) ?? 0;
    if (at < fromMs * 1000) continue;
    const id = samples[i] as number;
    const us = i + 1 < deltas.length ? (deltas[i + 1] as number) : mean;
    ms.set(id, (ms.get(id) ?? 0) + us / 1000);
  }
  return { profile, ms };
}

/** Busy self time (idle left out) summed per `function file:line` and per file (node_modules packages by name), largest first. */
export function summarize({ profile, ms }: ReturnType<typeof selfTimes>): { byFunction: [string, number][]; byFile: [string, number][]; totalMs: number } {
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let totalMs = 0;
  for (const node of profile.nodes) {
    const t = ms.get(node.id) ?? 0;
    // Idle time is not a cost; percentages are of the time the process was busy.
    if (t === 0 || node.callFrame.functionName === "(idle)") continue;
    totalMs += t;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = shortUrl(url);
    const fname = `${functionName || "(anonymous)"}${where ? ` ${where}:${lineNumber + 1}` : ""}`;
    fn.set(fname, (fn.get(fname) ?? 0) + t);
    const fkey = where || functionName;
    file.set(fkey, (file.get(fkey) ?? 0) + t);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { byFunction: sorted(fn), byFile: sorted(file), totalMs };
}

/** `file:///x/node_modules/pkg/lib/a.js` → `pkg/lib/a.js`; `file:///x/dist/sync/engine.js` → `dist/sync/engine.js`. */
export function shortUrl(url: string): string {
  if (!url) return "";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + "/node_modules/".length);
  // The last dist/ or src/ in the path, so that a checkout under e.g. /work/bench/ is not cut there.
  const cut = Math.max(path.lastIndexOf("/dist/"), path.lastIndexOf("/src/"));
  return cut >= 0 ? path.slice(cut + 1) : path;
}
