/**
 * `npm test`: runs every test file with node's test runner against one shared
 * Synapse (started here, unless MATRIX_TEST_HOMESERVER points at an existing
 * server). `npm test -- unit` runs only the unit tests, with no homeserver.
 * Extra arguments that name files or folders narrow the run.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { connectTestHomeserver } from "../src/devserver/index.js";

function collect(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("-"));
const roots = only.length === 0 ? ["test"] : only.map((a) => (a === "unit" || a === "integration" ? join("test", a) : a));
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? collect(r) : [r]));
const needsServer = files.some((f) => !f.startsWith(join("test", "unit")));

const env = { ...process.env };
let server: Awaited<ReturnType<typeof connectTestHomeserver>> | undefined;
if (needsServer && !env.MATRIX_TEST_HOMESERVER) {
  const started = Date.now();
  server = await connectTestHomeserver({ onProgress: (m) => console.log(`# homeserver: ${m}`) });
  console.log(`# homeserver ready at ${server.baseUrl} in ${Date.now() - started} ms`);
  env.MATRIX_TEST_HOMESERVER = server.baseUrl;
  env.MATRIX_TEST_REGISTRATION_SECRET = server.registrationSecret;
  env.MATRIX_TEST_SERVER_NAME = server.serverName;
}

const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=300000", ...args.filter((a) => a.startsWith("-")), ...files],
  { stdio: "inherit", env },
);
const stopServer = async (): Promise<void> => {
  await server?.stop();
  server = undefined;
};
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    child.kill(signal);
  });
const code: number = await new Promise((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
await stopServer();
process.exit(code);
