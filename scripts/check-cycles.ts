/**
 * `npm run lint` runs this: no import cycle in `src/`, type imports included. It is
 * `npx madge --circular --extensions ts src` with every kind of dependency counted: `import type`,
 * `export … from`, `import("…")` (also in type positions) and module augmentations
 * (`declare module "./x.js"`, which depend on the module they widen). The layer order itself is
 * checked by ESLint (`no-restricted-imports` in eslint.config.js); this catches what a
 * per-file rule cannot: cycles inside a layer, and dependencies that rule does not see.
 *
 * Then it type-checks `src/commands/` without the bot: the bot layer widens `ctx.bot` to `NioBot`
 * by declaration merging, so inside the full program commands code could call a bot member that
 * its `CommandHost` does not declare, a dependency on the bot no import shows.
 *
 * Exits non-zero, listing each cycle, when there is one (or when an import does not resolve, so
 * the graph would be incomplete, or the commands layer needs the bot). `--json` prints the
 * dependency graph instead.
 */
import { createRequire } from "node:module";
import ts from "typescript";

interface Node {
  type: string;
  id?: { type: string; value?: unknown };
}
interface DetectiveHookArgs {
  ast: unknown;
  walker: { walk(ast: unknown, visit: (node: Node) => void): void };
  dependencies: string[];
}
interface MadgeResult {
  obj(): Record<string, string[]>;
  circular(): string[][];
  warnings(): { skipped: string[] };
}
type Madge = (path: string, config: Record<string, unknown>) => Promise<MadgeResult>;

const madge = createRequire(import.meta.url)("madge") as Madge;

/** A `declare module "./x.js"` augmentation depends on the module it widens. */
function augmentations({ ast, walker, dependencies }: DetectiveHookArgs): void {
  walker.walk(ast, (node) => {
    if (node.type === "TSModuleDeclaration" && node.id?.type === "Literal" && typeof node.id.value === "string" && node.id.value.startsWith("."))
      dependencies.push(node.id.value);
  });
}

const result = await madge("src", {
  fileExtensions: ["ts"],
  tsConfig: "tsconfig.json",
  detectiveOptions: {
    ts: { skipTypeImports: false, skipAsyncImports: false, onAfterFile: augmentations },
    es6: { skipTypeImports: false, skipAsyncImports: false },
  },
});

if (process.argv.includes("--json")) {
  console.log(JSON.stringify(result.obj(), null, 2));
} else {
  const files = Object.keys(result.obj()).length;
  const { skipped } = result.warnings();
  const cycles = result.circular();
  for (const path of skipped) console.error(`unresolved import: ${path}`);
  cycles.forEach((cycle, i) => console.error(`cycle ${i + 1}: ${[...cycle, cycle[0]].join(" > ")}`));
  if (cycles.length > 0 || skipped.length > 0) {
    console.error(`${cycles.length} import cycle(s) in src/ (type imports included), ${skipped.length} unresolved import(s)`);
    process.exit(1);
  }
  console.log(`no import cycle in src/ (${files} files, type imports included)`);

  const config = ts.getParsedCommandLineOfConfigFile("tsconfig.json", {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!config) throw new Error("cannot read tsconfig.json");
  const alone = ts.createProgram(config.fileNames.filter((f) => f.includes("/src/commands/")), config.options);
  const above = alone.getSourceFiles().filter((f) => /\/src\/(bot|devserver|testing|cli)\/|\/src\/index\.ts$/.test(f.fileName));
  const diagnostics = ts.getPreEmitDiagnostics(alone);
  if (above.length > 0 || diagnostics.length > 0) {
    for (const f of above) console.error(`src/commands/ pulls in ${f.fileName}`);
    console.error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => "\n" }));
    console.error("src/commands/ does not type-check without the bot: declare what it needs in CommandHost (src/commands/host.ts)");
    process.exit(1);
  }
  console.log(`src/commands/ type-checks without the bot (${alone.getSourceFiles().length} files)`);
}
