/** How long loading each bot's package takes in a fresh process, on its own. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { BotKind } from "./args.js";
import { median } from "./stats.js";

/** What one fresh process measured. */
export interface ImportMetrics {
  /** From process start (`performance.timeOrigin`) to the import resolved, ms. */
  startToImportedMs: number;
  /** The `import()` alone, ms. */
  importMs: number;
  /** Resident memory right after the import, MB. */
  rssMB: number;
}

/** The package each bot loads first; the floor loads none (plain node start-up). */
export function packageOf(bot: BotKind): string {
  return bot === "floor" ? "" : bot === "matrix-bot-sdk" ? "matrix-bot-sdk" : "niobot";
}

/** One fresh `node` process importing `pkg` (or nothing). */
export async function measureImport(pkg: string): Promise<ImportMetrics> {
  const script = new URL("../bots/import.mjs", import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, pkg ? [script, pkg] : [script], { timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ImportMetrics;
}

/** The rows of the import table: medians per package, ratios to plain node. */
export function renderImportTable(columns: { name: string; runs: ImportMetrics[] }[]): string {
  const rows: [keyof ImportMetrics, string, string][] = [
    ["startToImportedMs", "process start to package imported", " ms"],
    ["importMs", "the import alone", " ms"],
    ["rssMB", "RSS after the import", " MB"],
  ];
  const medians = columns.map((c) => Object.fromEntries(rows.map(([k]) => [k, median(c.runs.map((r) => r[k]))])) as Record<keyof ImportMetrics, number>);
  const lines = [`| | ${columns.map((c) => c.name).join(" | ")} |`, `| --- | ${columns.map(() => "---").join(" | ")} |`];
  for (const [key, label, unit] of rows) lines.push(`| ${label} | ${medians.map((m) => `${m[key].toFixed(0)}${unit}`).join(" | ")} |`);
  return lines.join("\n");
}
