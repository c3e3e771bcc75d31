/**
 * Runs the `niobot` command-line tool as a child process, the way a user
 * does, from the TypeScript sources (through tsx).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** tsx's loader as a URL, so the CLI can run from any working directory. */
const tsxLoader = import.meta.resolve("tsx");
const cliMain = join(repoRoot, "src", "cli", "main.ts");

/** The outcome of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Written to standard input, which is then closed (a pipe: never a TTY). */
  input?: string;
  cwd?: string;
  /** Added to (or, with `undefined`, removed from) the environment. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** Runs `niobot <args>` and collects its exit code and output. */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The CLI reads these as the session; a developer's shell must not leak into the tests.
  for (const key of ["MATRIX_HOMESERVER", "MATRIX_USER_ID", "MATRIX_ACCESS_TOKEN", "MATRIX_DEVICE_ID"]) delete env[key];
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(process.execPath, ["--import", tsxLoader, cliMain, ...args], {
    cwd: options.cwd ?? repoRoot,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.on("error", () => {}); // the CLI may exit before reading its input
  child.stdin.end(options.input ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 0), stdout, stderr });
    });
  });
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = "niobot-cli-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
