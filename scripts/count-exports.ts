/**
 * `npx tsx scripts/count-exports.ts [entry...]`: how many names each public entry point of the
 * built package exports, values and type-only names apart. Run `npm run build` first: the
 * count is taken from `dist/`, as a consumer sees it. Values are the keys of the imported
 * module (checked against the declarations); types are the names the `.d.ts` exports that
 * have no runtime value.
 *
 * Entries are the package's subpaths without `./` (default: `. advanced testing devserver`);
 * `--list` prints the names too.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");

/**
 * The names a module exports, split by whether they carry a runtime value, read from its
 * declarations (`.d.ts`) or its source (`.ts`). Also used by test/unit/public-api.test.ts.
 */
export function declaredExports(dts: string): { values: string[]; types: string[] } {
  const program = ts.createProgram([dts], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(dts);
  const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${dts} is not a module`);
  const values: string[] = [];
  const types: string[] = [];
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    // `export type { X }` re-exports a class as a type only: the alias itself says so.
    const typeOnly = symbol.declarations?.some((d) => ts.isTypeOnlyExportDeclaration(d)) ?? false;
    (target.flags & ts.SymbolFlags.Value && !typeOnly ? values : types).push(symbol.name);
  }
  return { values: values.sort(), types: types.sort() };
}

async function main(): Promise<void> {
  const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const entries = named.length > 0 ? named : [".", "advanced", "testing", "devserver"];
  let failed = false;
  for (const entry of entries) {
    const base = entry === "." ? "index" : `${entry}/index`;
    const js = resolve(root, "dist", `${base}.js`);
    const dts = resolve(root, "dist", `${base}.d.ts`);
    if (!existsSync(js) || !existsSync(dts)) {
      console.error(`${entry}: dist/${base}.js or .d.ts is missing; run \`npm run build\` first`);
      failed = true;
      continue;
    }
    const runtime = Object.keys((await import(pathToFileURL(js).href)) as object).sort();
    const { values, types } = declaredExports(dts);
    const name = entry === "." ? "niobot" : `niobot/${entry}`;
    console.log(`${name}: ${runtime.length} values, ${types.length} types, ${runtime.length + types.length} names`);
    const missing = values.filter((v) => !runtime.includes(v));
    const undeclared = runtime.filter((v) => !values.includes(v));
    if (missing.length + undeclared.length > 0) {
      console.error(`  declarations and runtime disagree: declared only ${missing.join(", ") || "-"}; runtime only ${undeclared.join(", ") || "-"}`);
      failed = true;
    }
    if (process.argv.includes("--list")) console.log(`  values: ${runtime.join(", ")}\n  types: ${types.join(", ")}`);
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
