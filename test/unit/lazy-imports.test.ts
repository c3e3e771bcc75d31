/**
 * Importing niobot loads nothing a bot may not use: no crypto (wasm, fake-indexeddb), no
 * SQLite, no markdown or HTML libraries, no media libraries. Each case runs in a fresh `node`
 * process that records every module it resolves (an ESM resolve hook writing to a file) and
 * every CommonJS or `require(esm)` module (`require.cache`), so both ways a package can be
 * loaded are seen.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

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
  const loaded = new Set<string>();
  for (const line of readFileSync(log, "utf8").split("\n"))
    for (const name of HEAVY) if (line.includes(`/node_modules/${name}/`)) loaded.add(name);
  return loaded;
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
bot.start({ accessToken: "not-checked" }).catch(() => undefined);
// Both were asked for in start()'s first synchronous step; waiting for them lets the log complete.
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

  test("the crypto layer brings the wasm library with it (the detector sees ES modules)", () => {
    const loaded = packagesLoadedBy(`await src("src/crypto/crypto.ts");`);
    assert.ok(loaded.has("@matrix-org/matrix-sdk-crypto-wasm") && loaded.has("fake-indexeddb") && loaded.has("better-sqlite3"), `loaded: ${[...loaded].join(", ")}`);
  });
});
