/** Medians, percentiles and the markdown table with ratios to the floor. */

/** The median (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The p-th percentile by linear interpolation between closest ranks; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const rank = (p / 100) * (xs.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const f = rank - lo;
  // Weighted, not `lo + (hi - lo) * f`: the difference of two huge values of opposite sign overflows.
  return f === 0 ? (xs[lo] as number) : (xs[lo] as number) * (1 - f) + (xs[hi] as number) * f;
}

/** What one run of one bot measured. */
export interface RunMetrics {
  /** Homeserver requests per reply while under load (the first answer excluded). */
  requestsPerReply: number;
  /** Bot CPU (user + system) per reply while under load, ms. */
  cpuMsPerReply: number;
  /** Reply latency as the user sees it: from sending `!ping` to the reply arriving in their sync, ms. */
  p50Ms: number;
  p95Ms: number;
  /** Peak resident memory of the bot process (VmHWM), MB. */
  peakRssMB: number;
  /** Heap in use after a forced GC at the end of the run, MB. */
  heapMB: number;
  /** From spawning the bot process to the first reply arriving, ms. */
  startMs: number;
  /** Bot CPU from process start to the first reply, ms. */
  startCpuMs: number;
  /**
   * From spawning the bot to the end of its one-time set-up, ms: the first answer, or later for
   * a bot that finishes setting up after it (niobot with a store). The load starts here.
   * Absent in results written before it was measured.
   */
  readyMs?: number;
  /** Bot CPU from process start to the end of its set-up, ms. */
  readyCpuMs?: number;
}

/** A row of the table: which metric, how to print it. */
export interface MetricRow {
  key: keyof RunMetrics;
  label: string;
  digits: number;
  unit: string;
}

/** The rows, in the order of the issue's table. */
export const METRIC_ROWS: MetricRow[] = [
  { key: "requestsPerReply", label: "homeserver requests per reply", digits: 2, unit: "" },
  { key: "cpuMsPerReply", label: "bot CPU per reply", digits: 2, unit: " ms" },
  { key: "p50Ms", label: "reply p50", digits: 0, unit: " ms" },
  { key: "p95Ms", label: "reply p95", digits: 0, unit: " ms" },
  { key: "peakRssMB", label: "peak RSS", digits: 0, unit: " MB" },
  { key: "heapMB", label: "heap after GC, at the end", digits: 1, unit: " MB" },
  { key: "startMs", label: "start to first answer", digits: 0, unit: " ms" },
  { key: "startCpuMs", label: "CPU until the first answer", digits: 0, unit: " ms" },
  { key: "readyMs", label: "start to set-up done (the load starts here)", digits: 0, unit: " ms" },
  { key: "readyCpuMs", label: "CPU until set-up done", digits: 0, unit: " ms" },
];

/** `value` and its ratio to `floor`, e.g. `3.65 ms (1.9×)`; no ratio for the floor itself or a zero floor. */
export function formatCell(value: number, floor: number | undefined, row: Pick<MetricRow, "digits" | "unit">, isFloor = false): string {
  if (!Number.isFinite(value)) return "–";
  const text = `${value.toFixed(row.digits)}${row.unit}`;
  if (isFloor || floor === undefined || !Number.isFinite(floor) || floor === 0) return text;
  return `${text} (${(value / floor).toFixed(2)}×)`;
}

/** The markdown table of one scenario: one column per bot, medians of its runs, ratios to the first column. */
export function renderTable(columns: { name: string; runs: RunMetrics[] }[], rows: MetricRow[] = METRIC_ROWS): string {
  const medians = columns.map((c) => Object.fromEntries(rows.map((r) => [r.key, median(c.runs.map((m) => m[r.key] ?? NaN))])) as Record<keyof RunMetrics, number>);
  const floor = medians[0];
  const lines = [
    `| | ${columns.map((c) => `${c.name} (${c.runs.length} run${c.runs.length === 1 ? "" : "s"})`).join(" | ")} |`,
    `| --- | ${columns.map(() => "---").join(" | ")} |`,
  ];
  for (const row of rows)
    lines.push(`| ${row.label} | ${medians.map((m, i) => formatCell(m[row.key], floor?.[row.key], row, i === 0)).join(" | ")} |`);
  return lines.join("\n");
}

/**
 * The shape of a request path for counting: room, event and user ids,
 * transaction ids and numeric ids become a star, so that every
 * `PUT .../rooms/!a:x/send/m.room.message/t1` counts as one shape.
 */
export function requestShape(method: string, rawPath: string): string {
  const path = rawPath.split("?")[0] ?? "";
  const segs = path.split("/").map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  const out = segs.map((s, i) => {
    if (/^[!$@]/.test(s) || /^\d+$/.test(s)) return "*";
    // The transaction id after send/<type>, sendToDevice/<type> and redact/<event>.
    const before = segs[i - 2];
    if (before === "send" || before === "sendToDevice" || before === "redact") return "*";
    return s;
  });
  return `${method} ${out.join("/")}`;
}
