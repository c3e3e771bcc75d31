/**
 * Importing niobot loads nothing a bot may not use: no crypto (wasm, fake-indexeddb), no
 * SQLite, no markdown or HTML libraries, no media libraries. Each case runs in a fresh `node`
 * process that records every module it resolves (an ESM resolve hook writing to a file) and
 * every CommonJS or `require(esm)` module (`require.cache`), so both ways a package can be
 * loaded are seen. The same holds for what `npm run build` ships: `dist/` is bundled by
 * `scripts/bundle.ts`, and the last cases check a fresh bundle of `src/` (lazy modules in chunks of
 * their own, not loaded with the entry).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Metafile } from "esbuild";
import { bundle } from "../../scripts/bundle.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "niobot-lazy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const HEAVY = [
  "@matrix-org/matrix-sdk-crypto-wasm", "fake-indexeddb", "better-sqlite3", "marked", "sanitize-html", "htmlparser2", "sharp", "file-type", "music-metadata", "blurhash",
  // Only appservice registrations (YAML) and OAuth sessions need these.
  "yaml", "oauth4webapi",
];

/** Runs `body` (ES module code with `src(path)` to import a source file) in a fresh process; returns the packages it loaded. */
function packagesLoadedBy(body: string): Set<string> {
  const loaded = new Set<string>();
  for (const line of modulesLoadedBy(body)) for (const name of HEAVY) if (line.includes(`/node_modules/${name}/`)) loaded.add(name);
  return loaded;
}

/** Runs `body` in a fresh process; returns every module URL and CommonJS path it loaded. */
function modulesLoadedBy(body: string): string[] {
  const log = join(dir, `${Math.random().toString(36).slice(2)}.log`);
  const hooks = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + "\\n");
  return result;
}`;
  const script = `
import { register, createRequire } from "node:module";
import { appendFileSync } from "node:fs";
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}));
const src = (path) => import(new URL(path, ${JSON.stringify(pathToFileURL(`${root}/`).href)}).href);
${body}
appendFileSync(${JSON.stringify(log)}, Object.keys(createRequire(import.meta.url).cache).join("\\n") + "\\n");
`;
  execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  return readFileSync(log, "utf8").split("\n").filter((line) => line !== "");
}

describe("lazy loading", () => {
  test("importing niobot loads no crypto, SQLite, markdown, HTML, media, YAML or OAuth library", () => {
    assert.deepEqual([...packagesLoadedBy(`await src("src/index.ts");`)], []);
  });

  test("a plain reply does not load the markdown renderer or the sanitiser; formatted text does", () => {
    const plain = packagesLoadedBy(`
const { buildMessageContent, NioBot } = await src("src/index.ts");
new NioBot({ homeserver: "https://example.org", userId: "@bot:example.org", handleSignals: false });
const content = buildMessageContent("pong", { replyTo: { eventId: "$e", sender: "@alice:example.org" } });
if (content.body !== "pong" || content.formatted_body !== undefined) throw new Error("unexpected content " + JSON.stringify(content));
`);
    assert.deepEqual([...plain], []);
    const formatted = packagesLoadedBy(`
const { buildMessageContent } = await src("src/index.ts");
if (buildMessageContent("**pong**").formatted_body !== "<strong>pong</strong>") throw new Error("not rendered");
`);
    assert.ok(formatted.has("marked") && formatted.has("sanitize-html"), `loaded: ${[...formatted].join(", ")}`);
  });

  test("YAML loads with the first registration parsed, oauth4webapi with the first OAuth request", () => {
    const loaded = packagesLoadedBy(`
const { parseRegistration } = await src("src/appservice/registration.ts");
const { requestOptions } = await src("src/auth/oauth/issuer.ts");
if (parseRegistration("id: x\\nurl: null\\nas_token: a\\nhs_token: b\\nsender_localpart: bot\\nnamespaces: {users: [], aliases: [], rooms: []}\\n").id !== "x") throw new Error("not parsed");
if (Object.getOwnPropertySymbols(requestOptions("https://example.org", { fetch })).length !== 1) throw new Error("no custom fetch");
`);
    assert.ok(loaded.has("yaml") && loaded.has("oauth4webapi"), `loaded: ${[...loaded].join(", ")}`);
  });

  test("with encryption on, start() asks for the wasm library before the rest of the crypto layer", () => {
    // The compile is the longest step before the machine opens: it starts first, not after the
    // crypto layer (fake-indexeddb, SQLite, some twenty modules) has been imported.
    const log = join(dir, "order.log");
    const hooks = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + "\\n");
  return result;
}`;
    const script = `
import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}));
const src = (path) => import(new URL(path, ${JSON.stringify(pathToFileURL(`${root}/`).href)}).href);
const { NioBot, consoleLogger } = await src("src/index.ts");
const bot = new NioBot({ homeserver: "http://127.0.0.1:9", userId: "@bot:example.org", storePath: ${JSON.stringify(join(dir, "order.db"))}, handleSignals: false, logger: consoleLogger("silent") });
bot.start({ password: "not-checked" }).catch(() => undefined);
// With a password both were asked for in start()'s first synchronous step; waiting for them lets the log complete.
await src("src/crypto/crypto.ts");
await import("@matrix-org/matrix-sdk-crypto-wasm");
process.exit(0);
`;
    execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    const urls = readFileSync(log, "utf8").split("\n");
    const wasm = urls.findIndex((u) => u.includes("/node_modules/@matrix-org/matrix-sdk-crypto-wasm/"));
    const cryptoLayer = urls.findIndex((u) => u.endsWith("/src/crypto/crypto.ts"));
    assert.ok(wasm >= 0 && cryptoLayer >= 0, "both were loaded");
    assert.ok(wasm < cryptoLayer, `the wasm library (#${wasm}) is asked for before src/crypto/crypto.ts (#${cryptoLayer})`);
  });

  test("with encryption on and an access token, neither the crypto layer nor the wasm library loads while the first /sync is unanswered", async () => {
    // Nothing before the first answers needs them: the machine opens once those are out (or once
    // something waits for it), so opening it takes neither the homeserver's cores during the
    // initial /sync nor the main thread while a first command is being answered.
    const log = join(dir, "token-order.log");
    const hooks = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + "\\n");
  return result;
}`;
    const script = `
import { register } from "node:module";
import { appendFileSync, readFileSync } from "node:fs";
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}));
const src = (path) => import(new URL(path, ${JSON.stringify(pathToFileURL(`${root}/`).href)}).href);
const { NioBot, consoleLogger } = await src("src/index.ts");
// Every request is logged and never answered: the bot stays at its first /sync.
const fetch = (input) => (appendFileSync(${JSON.stringify(log)}, "FETCH " + new URL(input).pathname + "\\n"), new Promise(() => undefined));
const bot = new NioBot({ homeserver: "http://127.0.0.1:9", userId: "@bot:example.org", deviceId: "DEVICE", storePath: ${JSON.stringify(join(dir, "token-order.db"))}, fetch, handleSignals: false, logger: consoleLogger("silent") });
bot.start({ accessToken: "not-checked" }).catch(() => undefined);
const seen = () => readFileSync(${JSON.stringify(log)}, "utf8");
for (let i = 0; i < 500 && !seen().includes("/sync\\n"); i++) await new Promise((r) => setTimeout(r, 20));
// Longer than the set-up trigger's idle wait, which starts only once a long poll goes out.
await new Promise((r) => setTimeout(r, 1500));
process.exit(0);
`;
    execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    const lines = readFileSync(log, "utf8").split("\n");
    const sync = lines.findIndex((l) => l.startsWith("FETCH ") && l.endsWith("/sync"));
    const wasm = lines.findIndex((l) => l.includes("/node_modules/@matrix-org/matrix-sdk-crypto-wasm/"));
    const cryptoLayer = lines.findIndex((l) => l.endsWith("/src/crypto/crypto.ts"));
    assert.ok(sync >= 0, `the first /sync went out: ${lines.join(", ")}`);
    assert.equal(wasm, -1, `no wasm library while the first /sync is unanswered: ${lines.join(", ")}`);
    assert.equal(cryptoLayer, -1, `no crypto layer while the first /sync is unanswered: ${lines.join(", ")}`);
  });

  test("the crypto layer brings the wasm library with it (the detector sees ES modules)", () => {
    const loaded = packagesLoadedBy(`await src("src/crypto/crypto.ts");`);
    assert.ok(loaded.has("@matrix-org/matrix-sdk-crypto-wasm") && loaded.has("fake-indexeddb") && loaded.has("better-sqlite3"), `loaded: ${[...loaded].join(", ")}`);
  });
});

describe("lazy loading from the bundled build (scripts/bundle.ts, as `npm run build` makes dist/)", () => {
  // Under node_modules/, so the bundle's external packages resolve from this checkout's node_modules;
  // with a copy of package.json one level up, as dist/ has ("type": "module", the CLI's version).
  const home = join(root, "node_modules", ".cache", `niobot-bundle-${process.pid}`);
  const out = join(home, "dist");
  let meta: Metafile;
  before(async () => {
    mkdirSync(home, { recursive: true });
    copyFileSync(join(root, "package.json"), join(home, "package.json"));
    meta = await bundle(out);
  });
  after(() => rmSync(home, { recursive: true, force: true }));
  /** The URL of the output file esbuild made for the (lazily imported) source file `source`. */
  const outputFor = (source: string): string => {
    const [file] = Object.entries(meta.outputs).find(([, o]) => o.entryPoint === source) ?? [];
    assert.ok(file, `no output for ${source}`);
    return pathToFileURL(join(root, file)).href;
  };
  const built = (path: string): string => JSON.stringify(pathToFileURL(join(out, path)).href);

  test("the built entry loads a few files, none of the heavy libraries and not the crypto chunk", () => {
    const loaded = modulesLoadedBy(`await import(${built("index.js")});`);
    const heavy = loaded.filter((line) => HEAVY.some((name) => line.includes(`/node_modules/${name}/`)));
    assert.deepEqual(heavy, []);
    assert.ok(!loaded.includes(outputFor("src/crypto/crypto.ts")), "the crypto chunk was loaded");
    // One module per source file (tsc's output) was ~140 files; the bundle is the entry and its shared chunks.
    const ours = new Set(loaded.filter((line) => line.startsWith(pathToFileURL(out).href)));
    assert.ok(ours.size > 1 && ours.size <= 25, `loaded ${ours.size} files of the bundle`);
  });

  test("a plain reply from the built entry does not load the markdown renderer; the crypto chunk brings the wasm library", () => {
    const plain = packagesLoadedBy(`
const { buildMessageContent, NioBot } = await import(${built("index.js")});
new NioBot({ homeserver: "https://example.org", userId: "@bot:example.org", handleSignals: false });
if (buildMessageContent("pong").formatted_body !== undefined) throw new Error("formatted");
`);
    assert.deepEqual([...plain], []);
    const crypto = packagesLoadedBy(`await import(${JSON.stringify(outputFor("src/crypto/crypto.ts"))});`);
    assert.ok(crypto.has("@matrix-org/matrix-sdk-crypto-wasm") && crypto.has("fake-indexeddb"), `loaded: ${[...crypto].join(", ")}`);
  });

  test("the entries share one copy of each module: the root's bot is the advanced entry's classes", () => {
    modulesLoadedBy(`
const root = await import(${built("index.js")});
const advanced = await import(${built("advanced/index.js")});
const bot = new root.NioBot({ homeserver: "https://example.org", userId: "@bot:example.org", handleSignals: false });
if (!(bot.rooms instanceof advanced.RoomTracker)) throw new Error("two copies of RoomTracker");
const names = (m) => Object.keys(m).sort().join(",");
if (names(root) !== names(await src("src/index.ts"))) throw new Error("the built entry exports other names than src/index.ts");
`);
  });

  test("the CLI runs from the bundle and finds its package.json", () => {
    const output = execFileSync(process.execPath, [join(out, "cli", "main.js"), "version"], { cwd: root, encoding: "utf8" });
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    assert.match(output, new RegExp(`^niobot\\s+${version.replace(/\./g, "\\.")}$`, "m"));
  });
});
