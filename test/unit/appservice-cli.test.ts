/** `niobot appservice registration`, run as a user runs it. */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadRegistration } from "../../src/appservice/registration.js";
import { runCli, tempDir } from "../helpers/cli.js";

test("niobot appservice registration writes a usable registration and prints the Synapse lines, never the tokens", async () => {
  const { dir, remove } = tempDir();
  try {
    const out = join(dir, "reg.yaml");
    const result = await runCli(["appservice", "registration", "--url", "http://127.0.0.1:9000", "--server-name", "example.org", "--user-prefix", "_tg_", "-o", out]);
    assert.equal(result.code, 0, result.stderr);
    const registration = await loadRegistration(out);
    assert.equal(registration.rate_limited, false);
    assert.equal(registration.url, "http://127.0.0.1:9000");
    assert.equal(registration.sender_localpart, "niobot");
    assert.deepEqual(registration.namespaces.users, [{ exclusive: true, regex: "@_tg_.*:example\\.org" }]);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(result.stdout, /app_service_config_files:\n {2}- .*reg\.yaml/);
    assert.ok(!result.stdout.includes(registration.as_token) && !result.stdout.includes(registration.hs_token), "no token printed");

    // A second run does not silently replace the tokens.
    const again = await runCli(["appservice", "registration", "--url", "http://127.0.0.1:9000", "--server-name", "example.org", "-o", out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /--force/);
    assert.equal((await loadRegistration(out)).as_token, registration.as_token);
    assert.ok(readFileSync(out, "utf8").includes(registration.hs_token));

    const usage = await runCli(["appservice", "registration", "--server-name", "example.org", "-o", join(dir, "x.yaml")]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--url is required/);
  } finally {
    remove();
  }
});
