import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { runDemo } from "../../scripts/demo.js";
import { homeserver } from "../helpers/matrix.js";

describe("npm run demo", () => {
  test("plays the scripted conversation and every command gets its answer", async () => {
    let output = "";
    const transcript = await runDemo({ homeserver: await homeserver(), write: (t) => void (output += t) });
    const lines = transcript.map((l) => `${l.room} ${l.sender}: ${l.body}`);
    const at = (i: number): string => lines[i] ?? "";
    assert.equal(lines.length, 14, lines.join("\n"));
    assert.equal(at(0), "#niobot-demo alice: !ping");
    assert.match(at(1), /^#niobot-demo niobot: Pong! \d+ms$/);
    assert.equal(at(3), "#niobot-demo niobot: Hello @\u2060r\u2060oom, meet **niobot**");
    assert.equal(at(5), "#niobot-demo niobot: 2 + 40 = 42");
    assert.equal(at(7), '#niobot-demo niobot: ⚠️ Argument "a": expected an integer, got "two"\nUsage: !add <a> <b>');
    assert.equal(at(9), "#niobot-demo niobot: 👋 Alice");
    assert.equal(at(10), "#niobot-demo alice: !dm");
    assert.equal(at(11), "(DM dmbot) dmbot: Hello, world!");
    assert.match(at(13), /^#niobot-demo dmbot: Your 1 direct rooms:\n\* https:\/\/matrix\.to\/#\/!\S+$/);
    assert.match(output, /\[4\/4\] Conversation/);
    assert.match(output, /alice │ !ping/);
  });

  test("--keep prints how to log in, and Ctrl-C stops the homeserver and bots", { skip: process.getuid?.() !== 0 && "needs root to start its own Synapse" }, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo.ts", "--keep"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => void (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => void (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!out.includes("Press Ctrl-C") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.match(out, /password {4}demo-[0-9a-f]+/, out);
    const baseUrl = /homeserver {2}(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(baseUrl, out);
    assert.equal((await fetch(`${baseUrl}/_matrix/client/versions`)).ok, true);
    child.kill("SIGINT");
    assert.equal(await exited, 130);
    await assert.rejects(fetch(`${baseUrl}/_matrix/client/versions`, { signal: AbortSignal.timeout(2_000) }));
  });
});
