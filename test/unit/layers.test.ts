/**
 * The layer rule of `npm run lint` (README, "Layout"): ESLint's per-folder
 * `no-restricted-imports`, built from `scripts/layers.json`, rejects an import from a later layer
 * and lets a lower one through; and the order it enforces is the one the README documents,
 * covering every folder of `src/`. Snippets are linted under virtual paths with ESLint's Node API
 * and the project's own eslint.config.js.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { ESLint } from "eslint";

const root = resolve(import.meta.dirname, "../..");
const eslint = new ESLint({ cwd: root });
const { layers } = JSON.parse(readFileSync(resolve(root, "scripts/layers.json"), "utf8")) as { layers: string[] };

/** The layer rule's messages (`no-restricted-imports`/`-syntax`) ESLint gives `code` placed at `filePath`. */
async function restricted(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(root, filePath) });
  assert.ok(result, "ESLint linted the snippet");
  assert.deepEqual(result.messages.filter((m) => m.fatal), [], "the snippet parses");
  return result.messages.filter((m) => m.ruleId === "no-restricted-imports" || m.ruleId === "no-restricted-syntax").map((m) => m.message);
}

test("an upward import fails lint: src/api importing the bot", async () => {
  const errors = await restricted('import type { NioBot } from "../bot/bot.js";\nexport type Bot = NioBot;\n', "src/api/virtual.ts");
  assert.equal(errors.length, 1);
  assert.match(errors[0] ?? "", /src\/api\/ must not import a later layer/);
});

test("value imports, re-exports and nested folders are caught too", async () => {
  assert.equal((await restricted('import { NioBot } from "../bot/bot.js";\nexport const b = NioBot;\n', "src/sync/virtual.ts")).length, 1);
  assert.equal((await restricted('export { CommandContext } from "../commands/context.js";\n', "src/crypto/virtual.ts")).length, 1);
  assert.equal((await restricted('export * from "../cli/envfile.js";\n', "src/auth/virtual.ts")).length, 1);
  // src/auth/oauth/ is two folders deep: `../../cli` leaves the layer, `../persist.js` does not.
  assert.equal((await restricted('import { main } from "../../cli/main.js";\nexport const m = main;\n', "src/auth/oauth/virtual.ts")).length, 1);
  assert.equal((await restricted('import { tokenPersister } from "../persist.js";\nexport const p = tokenPersister;\n', "src/auth/oauth/virtual.ts")).length, 0);
  // The forms no-restricted-imports does not see: a dynamic import, an import type, an augmentation.
  assert.equal((await restricted('export const load = () => import("../bot/bot.js");\n', "src/dm/virtual.ts")).length, 1);
  assert.equal((await restricted('export type Bot = import("../bot/bot.js").NioBot;\n', "src/dm/virtual.ts")).length, 1);
  assert.equal((await restricted('declare module "../commands/host.js" {\n  interface CommandBot { x: 1 }\n}\nexport {};\n', "src/messaging/virtual.ts")).length, 1);
  // Nothing in src/ imports the package entry.
  assert.equal((await restricted('export { NioBot } from "../index.js";\n', "src/messaging/virtual.ts")).length, 1);
});

test("downward and same-layer imports pass", async () => {
  const down = 'import type { ErrorContext } from "../core/errors.js";\nimport type { Room } from "../sync/room.js";\nexport type X = [ErrorContext, Room];\n';
  assert.deepEqual(await restricted(down, "src/crypto/virtual.ts"), []);
  assert.deepEqual(await restricted('import type { CommandContext } from "../commands/context.js";\nexport type C = CommandContext;\n', "src/bot/virtual.ts"), []);
  assert.deepEqual(await restricted('import type { CommandHost } from "./host.js";\nexport type H = CommandHost;\n', "src/commands/virtual.ts"), []);
  assert.deepEqual(await restricted('declare module "../commands/host.js" {\n  interface CommandBot { x: 1 }\n}\nexport const load = () => import("../sync/room.js");\n', "src/bot/virtual.ts"), []);
});

test("the order covers every folder of src/ and is the README's Layout table", () => {
  const folders = readdirSync(resolve(root, "src"), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual([...folders].sort(), [...layers].sort(), "every folder of src/ has a place in scripts/layers.json");
  const readme = readFileSync(resolve(root, "README.md"), "utf8");
  const rows = [...readme.matchAll(/^\| \d+ \| `src\/([a-z]+)\/` \|/gm)].map((m) => m[1]);
  assert.deepEqual(rows, layers, "the README's Layout table lists the layers in the enforced order");
});
