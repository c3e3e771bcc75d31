/**
 * `npm run lint` runs this: no import cycle in `src/`, type imports included. It is
 * `npx madge --circular --extensions ts src` with every kind of dependency counted: `import type`,
 * `export … from`, `import("…")` (also in type positions) and module augmentations
 * (`declare module "./x.js"`, which depend on the module they widen). The layer order itself is
 * checked by ESLint (`no-restricted-imports` in eslint.config.js); this catches what a
 * per-file rule cannot: cycles inside a layer, and dependencies that rule does not see.
 *
 * Exits non-zero, listing each cycle, when there is one (or when an import does not resolve, so
 * the graph would be incomplete). `--json` prints the dependency graph instead.
 */
import { createRequire } from "node:module";

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
}
