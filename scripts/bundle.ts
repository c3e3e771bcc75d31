/**
 * The JavaScript half of `npm run build`: bundles the package's entry points from `src/` into
 * `dist/` with esbuild (ES modules, code splitting), beside the declarations `tsc` emits. A
 * bot importing `niobot` then loads a handful of files instead of ~140 small modules: Node
 * resolves, reads, compiles and links each module on its own, and that per-module work was
 * most of the import time. Code splitting keeps what is loaded on demand on demand: every
 * `import()` in `src/` (the crypto layer, the CLI's commands) becomes a chunk of its own, and
 * packages stay external, so the lazy `require`s and `import()`s of heavy libraries are
 * untouched (`test/unit/bundle.test.ts` checks both on the built output).
 *
 * `npx tsx scripts/bundle.ts [OUTDIR]` (default `dist`); `npm run build` runs it, then `tsc` for the
 * declarations only (`emitDeclarationOnly` in tsconfig.build.json).
 */
import { build, type Metafile } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The package's entry points (package.json `exports` and `bin`), relative to `src/` and `dist/`, without the extension. */
export const ENTRIES = ["index", "advanced/index", "testing/index", "devserver/index", "cli/main"] as const;

/**
 * Bundles `src/` into `outdir`. Shared code and lazily imported modules go to `outdir/chunks/`:
 * one level below `outdir`, as `dist/cli/` is, so that the CLI's `new URL("../../package.json",
 * import.meta.url)` finds the package's root from a chunk as from `dist/cli/main.js`.
 */
export async function bundle(outdir = join(root, "dist")): Promise<Metafile> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRIES.map((e) => ({ in: `src/${e}.ts`, out: e })),
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Dependencies are resolved by Node at run time, as before: lazy ones stay lazy.
    packages: "external",
    chunkNames: "chunks/[name]-[hash]",
    tsconfig: join(root, "tsconfig.build.json"),
    // TSDoc stays in the .d.ts files; the JavaScript does not need it.
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  // JavaScript from an earlier build (tsc's one file per module, old chunks) would be shipped and
  // could be imported by a deep path: only what this build wrote stays. tsc writes the .d.ts files.
  const written = new Set(Object.keys(result.metafile.outputs).map((p) => resolve(root, p)));
  for (const file of readdirSync(outdir, { recursive: true, encoding: "utf8" }))
    if (file.endsWith(".js") && !written.has(resolve(outdir, file))) rmSync(join(outdir, file));
  return result.metafile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
  // Silent on success, as tsc is: `npm pack --json` runs the build and its stdout must stay JSON.
  await bundle(out);
}
