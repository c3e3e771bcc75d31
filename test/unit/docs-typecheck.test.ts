/**
 * Every TypeScript code block in the README and the guides is compiled
 * against the library's sources, so the docs cannot rot. A block fenced as
 * ```ts no-check is skipped (for deliberately partial snippets); use it rarely.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const root = resolve(import.meta.dirname, "../..");

function docFiles(): string[] {
  const files = [join(root, "README.md")];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "api") walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  walk(join(root, "docs"));
  return files;
}

/** Extracts ```ts / ```typescript blocks with their line numbers. */
export function codeBlocks(markdown: string): { code: string; line: number }[] {
  const blocks: { code: string; line: number }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(ts|typescript)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] ?? "")) end++;
    blocks.push({ code: lines.slice(start, end).join("\n"), line: start + 1 });
    i = end;
  }
  return blocks;
}

test("every TypeScript block in the docs type-checks against the library", () => {
  const dir = join(root, ".niobot", "docs-check");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const origin = new Map<string, string>();
  let count = 0;
  for (const file of docFiles()) {
    for (const block of codeBlocks(readFileSync(file, "utf8"))) {
      const name = `block${count++}.ts`;
      origin.set(name, `${file.slice(root.length + 1)}:${block.line}`);
      // Each block is its own module, so top-level await and imports work as written.
      writeFileSync(join(dir, name), `${block.code}\nexport {};\n`);
    }
  }
  assert.ok(count >= 1, "the README has at least one TypeScript example");
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../tsconfig.json",
      compilerOptions: {
        noEmit: true,
        baseUrl: ".",
        paths: { niobot: ["../../src/index.ts"], "niobot/*": ["../../src/*/index.ts"] },
        noUnusedLocals: false,
      },
      include: ["*.ts"],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
  const output = (tsc.stdout + tsc.stderr).replace(/(?:\S*docs-check\/)?(block\d+\.ts)\((\d+),(\d+)\)/g, (_m, name: string, l: string) => {
    const [file, line] = (origin.get(name) ?? "?:0").split(":");
    return `${file}:${Number(line) + Number(l) - 1}`;
  });
  assert.equal(tsc.status, 0, `doc examples failed to type-check:\n${output}`);
});
