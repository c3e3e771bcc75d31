/**
 * `npm run check:package` (part of `npm run lint`): packs the package the way
 * it is published and checks what consumers get: publint and "Are the types
 * wrong?" against the tarball, no tests or sources in it, no source map that
 * points at a missing file, and its size. `--keep <dir>` leaves the tarball there.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const keepAt = process.argv.indexOf("--keep");
const dir = keepAt >= 0 ? (process.argv[keepAt + 1] ?? ".") : mkdtempSync(join(tmpdir(), "niobot-pack-"));
const bin = (name: string): string => join("node_modules", ".bin", name);

try {
  // `npm pack` runs `prepare`, so dist/ is built fresh from src/.
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  const info = packed[0];
  if (!info) throw new Error("npm pack reported nothing");
  const tarball = join(dir, info.filename);
  const paths = new Set(info.files.map((f) => f.path));
  const problems: string[] = [];
  for (const path of paths) {
    if (!/^(dist\/|README\.md$|package\.json$|LICENSE)/.test(path)) problems.push(`unexpected file in the package: ${path}`);
    if (/(^|\/)(test|tests|__tests__)\/|\.test\.[cm]?[jt]s$/.test(path)) problems.push(`a test in the package: ${path}`);
    if (path.endsWith(".map")) problems.push(`a source map in the package (its sources are not shipped): ${path}`);
  }
  for (const entry of ["dist/index.js", "dist/index.d.ts", "dist/advanced/index.js", "dist/advanced/index.d.ts", "dist/testing/index.js", "dist/testing/index.d.ts", "dist/devserver/index.js", "dist/cli/main.js"])
    if (!paths.has(entry)) problems.push(`missing from the package: ${entry}`);
  if (problems.length > 0) throw new Error(problems.join("\n"));

  execFileSync(bin("publint"), ["run", tarball, "--strict"], { stdio: "inherit" });
  // ESM only ("type": "module", exports with "import" only): the esm-only profile leaves out CommonJS resolution.
  execFileSync(bin("attw"), [tarball, "--profile", "esm-only", "--no-emoji", "--no-color"], { stdio: "inherit" });
  console.log(`# package ${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${paths.size} files`);
} finally {
  if (keepAt < 0) rmSync(dir, { recursive: true, force: true });
}
