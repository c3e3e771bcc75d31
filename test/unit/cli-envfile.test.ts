import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, test } from "node:test";
import { checkUser } from "../../src/cli/login.js";
import { formatEnvValue, loadMatrixEnv, mergeEnv, parseEnv, updateEnvFile } from "../../src/auth/envfile.js";
import { packageNameFor } from "../../src/cli/init.js";
import { Prompter } from "../../src/cli/prompt.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-envfile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("env files", () => {
  test("parse: comments, export, quotes, escapes, inline comments, last one wins", () => {
    const env = parseEnv(
      [
        "# comment",
        "A=1",
        "export B = two ",
        "C='single # not a comment'",
        'D="line\\nbreak \\"quoted\\""',
        "E=value # comment",
        "F=",
        "A=again",
        "not a line",
      ].join("\n"),
    );
    assert.deepEqual(env, { A: "again", B: "two", C: "single # not a comment", D: 'line\nbreak "quoted"', E: "value", F: "" });
  });

  test("format quotes only what needs it, and round-trips", () => {
    assert.equal(formatEnvValue("syt_abc_123"), "syt_abc_123");
    assert.equal(formatEnvValue("https://matrix.example.org:8448"), "https://matrix.example.org:8448");
    assert.equal(formatEnvValue("@bot:example.org"), "@bot:example.org");
    for (const tricky of ["two words", 'a"b', "x#y", "back\\slash", "new\nline", "", "$HOME"]) {
      assert.equal(parseEnv(`K=${formatEnvValue(tricky)}`).K, tricky, JSON.stringify(tricky));
    }
  });

  test("merge replaces in place, drops duplicates, appends new keys, keeps the rest", () => {
    const before = "# top\nOTHER=1\nTOKEN=old\n\nexport TOKEN=older\nTAIL=x";
    const after = mergeEnv(before, { TOKEN: "new", ADDED: "a b" });
    assert.equal(after, '# top\nOTHER=1\nTOKEN=new\n\nTAIL=x\nADDED="a b"\n');
    assert.equal(mergeEnv("", { A: "1" }), "A=1\n");
  });

  test("update creates a 0600 file, narrows a wider mode, follows a symlink, leaves no temp file", async () => {
    const file = join(dir, "new.env");
    const created = await updateEnvFile(file, { A: "1" });
    assert.deepEqual(created, { existed: false, widerModeFixed: undefined });
    assert.equal(statSync(file).mode & 0o777, 0o600);

    writeFileSync(file, "KEEP=yes\n");
    chmodSync(file, 0o644);
    const updated = await updateEnvFile(file, { A: "2" });
    assert.deepEqual(updated, { existed: true, widerModeFixed: 0o644 });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, "utf8"), "KEEP=yes\nA=2\n");

    const link = join(dir, "link.env");
    symlinkSync(file, link);
    await updateEnvFile(link, { B: "3" });
    assert.equal(parseEnv(readFileSync(file, "utf8")).B, "3", "the target was written");
    assert.ok(statSync(link).isFile());
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes("niobot-tmp")), []);
  });

  test("the environment wins over the file", async () => {
    const file = join(dir, "m.env");
    writeFileSync(file, "MATRIX_HOMESERVER=https://file\nMATRIX_ACCESS_TOKEN=from-file\nMATRIX_USER_ID=@f:x\n");
    const env = await loadMatrixEnv(file, { MATRIX_ACCESS_TOKEN: "from-env", MATRIX_USER_ID: "  " });
    assert.equal(env.homeserver, "https://file");
    assert.equal(env.accessToken, "from-env");
    assert.equal(env.userId, "@f:x", "a blank variable does not hide the file");
    assert.equal(env.deviceId, undefined);
    assert.deepEqual(env.sources, { MATRIX_HOMESERVER: file, MATRIX_ACCESS_TOKEN: "environment", MATRIX_USER_ID: file });
  });
});

describe("cli helpers", () => {
  test("user ids and package names", () => {
    assert.equal(checkUser(" bot "), "bot");
    assert.equal(checkUser("@bot:example.org:8448"), "@bot:example.org:8448");
    for (const bad of ["", "@bot", "@:x", "two words"]) assert.throws(() => checkUser(bad), { exitCode: 2 }, bad);
    assert.equal(packageNameFor("/tmp/My Bot!"), "my-bot");
    assert.equal(packageNameFor("..."), "my-bot");
  });

  test("piped prompts: one answer per line, defaults, a clear error when input ends", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (d: Buffer) => (shown += d.toString()));
    const prompter = new Prompter({ input, output });
    input.end("example.org\n\n s3cret \n");
    assert.equal(prompter.interactive, false);
    assert.equal(await prompter.ask("Homeserver: "), "example.org");
    assert.equal(await prompter.ask("User: ", "@bot:example.org"), "@bot:example.org");
    assert.equal(await prompter.secret("Password: "), " s3cret ", "secrets are not trimmed");
    await assert.rejects(prompter.ask("More: "), /standard input ended before an answer to "More"/);
    prompter.close();
    assert.ok(shown.includes("User [@bot:example.org]: "));
    assert.ok(!shown.includes("s3cret"), "answers are not echoed");
  });
});
