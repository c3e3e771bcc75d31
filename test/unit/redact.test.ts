/**
 * Secret redaction (issue 11, finding 13): arrays and deep objects, secret-looking names of any
 * shape, the exact secrets the bot holds (whatever their format) wherever they appear, cycles,
 * and linear time on hostile text. Every assertion goes through what the bot really uses: its
 * redacting logger, its HTTP client and its error classes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MatrixError, MatrixNetworkError } from "../../src/api/errors.js";
import { HttpClient } from "../../src/api/http.js";
import { consoleLogger, redactingLogger, type LogFn } from "../../src/logging/logger.js";

/** A bot-style logger that records its lines. */
function capture(): { log: ReturnType<typeof redactingLogger>; text: () => string } {
  const lines: string[] = [];
  return { log: redactingLogger(consoleLogger("debug", { write: (l: string) => void lines.push(l) })), text: () => lines.join("") };
}

describe("secret redaction", () => {
  test("arrays and deeply nested objects are redacted", () => {
    const { log, text } = capture();
    log.info({ list: [{ access_token: "deep-a1" }, ["x", { password: "deep-b2" }]], a: { b: { c: { d: { e: { f: { refresh_token: "deep-c3" } } } } } }, roomId: "!r:s" }, "nested");
    assert.doesNotMatch(text(), /deep-a1|deep-b2|deep-c3/);
    assert.match(text(), /!r:s/);
  });

  test("names are matched by substring, in any case: refresh_token, new_password, MATRIX_ACCESS_TOKEN, Authorization, ...", () => {
    const { log, text } = capture();
    const names = ["refresh_token", "new_password", "MATRIX_ACCESS_TOKEN", "Authorization", "recovery_key", "passphrase", "client_secret", "loginToken", "accessToken", "x-api-key", "api_key", "privateKey"];
    log.warn(Object.fromEntries(names.map((n, i) => [n, `value-${i}-zz`])), "names");
    for (let i = 0; i < names.length; i++) assert.doesNotMatch(text(), new RegExp(`value-${i}-zz`), names[i]);
    const plain = capture();
    plain.log.info({ roomId: "!a:b", eventId: "$e", count: 3, hasAccessToken: true }, "plain");
    assert.match(plain.text(), /roomId=!a:b eventId=\$e count=3 hasAccessToken=true/);
  });

  test("the bot's own token is redacted in message text whatever its format (no syt_ prefix)", () => {
    const token = "Opaque0therServerT0ken";
    const http = new HttpClient({ baseUrl: "http://127.0.0.1:1" });
    http.setAccessToken(token);
    const { log, text } = capture();
    log.info(`token is ${token} and url-encoded ${encodeURIComponent(token)}`);
    log.warn({ note: `here: ${token}`, list: [[`${token}!`]], error: new Error(`failed with ${token}`) }, `msg ${token}`);
    assert.doesNotMatch(text(), /Opaque0therServerT0ken/);
    const err = new MatrixError({ method: "GET", path: `/x?since=1` }, 500, { error: `echo ${token}` });
    assert.doesNotMatch(err.message, /Opaque0therServerT0ken/);
    const netErr = new MatrixNetworkError({ method: "GET", path: "/x" }, new Error(`socket ${token}`));
    assert.doesNotMatch(netErr.message, /Opaque0therServerT0ken/);
  });

  test("secrets in text: name=value, JSON, env lines, query strings and bearer credentials", () => {
    const { log, text } = capture();
    log.info('body {"refresh_token":"rt-11","user":"@u:s"} MATRIX_ACCESS_TOKEN=env-22 new_password: np-33');
    log.info("GET /x?since=s1&refresh_token=qs-44&from=f Authorization: Bearer opaque-55");
    log.info("config.token=cfg-66 and 'password' = 'pw 77' note=token:tk-99 body: \"{\\\"access_token\\\": \\\"esc-00\\\"}\"");
    log.info(`stringified twice: ${JSON.stringify(JSON.stringify({ user: "@u:s", new_password: "twice 88", n: 1 }))}`);
    const out = text();
    assert.doesNotMatch(out, /rt-11|env-22|np-33|qs-44|opaque-55|cfg-66|pw 77|twice 88|tk-99|esc-00/);
    assert.match(out, /new_password\\":\\"<redacted>\\",\\"n\\":1/);
    assert.match(out, /"user":"@u:s"/);
    assert.match(out, /since=s1/);
    assert.match(out, /from=f/);
  });

  test("errors keep their message, stack, fields and cause, redacted", () => {
    // Like pino: the fields object itself is what the inner logger receives and serialises.
    const received: unknown[] = [];
    const keep = ((fields: unknown) => void received.push(fields)) as LogFn;
    const log = redactingLogger({ debug: keep, info: keep, warn: keep, error: keep });
    const text = () => JSON.stringify(received);
    const cause = new Error("inner access_token=cause-88");
    const error = new MatrixError({ method: "POST", path: "/login" }, 403, { errcode: "M_FORBIDDEN", error: "no", password: "body-99" });
    (error as unknown as { cause: unknown }).cause = cause;
    log.error({ error }, "failed");
    assert.doesNotMatch(text(), /cause-88|body-99/);
    assert.match(text(), /M_FORBIDDEN/);
    assert.match(text(), /inner access_token=<redacted>/, "the cause is logged too");
  });

  test("cycles, shared references and hostile depth neither throw nor leak", () => {
    const { log, text } = capture();
    const shared = { token: "shared-1" };
    const cyclic: Record<string, unknown> = { name: "loop", twice: [shared, shared] };
    cyclic.self = cyclic;
    let deep: unknown = { password: "deepest-2" };
    for (let i = 0; i < 50_000; i++) deep = [deep];
    log.info({ cyclic, deep }, "hostile shapes");
    const out = text();
    assert.doesNotMatch(out, /shared-1|deepest-2/);
    assert.match(out, /Circular/);
  });

  test("property: a registered secret never survives, wherever it is put in a line", () => {
    const secret = "Reg1steredSecretValue";
    new HttpClient({ baseUrl: "http://127.0.0.1:1", accessToken: secret });
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (before, after) => {
        const { log, text } = capture();
        log.info({ nested: [{ x: `${before}${secret}${after}` }] }, `${before}${secret}${after}`);
        return !text().includes(secret);
      }),
      { numRuns: 500 },
    );
  });

  test("hostile 64 KB lines are redacted in linear time", () => {
    const n = 65_536;
    const hostile = [
      "a".repeat(n),
      "a-".repeat(n / 2),
      "token=".repeat(n / 6),
      'token:"'.repeat(n / 7),
      '"'.repeat(n),
      "?".repeat(n),
      "token ?a".repeat(n / 8),
      "Bearer ".repeat(n / 7),
      "syt_".repeat(n / 4),
      'password="' + "\\".repeat(n),
      ("x".repeat(63) + ":").repeat(n / 64),
      "token &a=b".repeat(n / 10),
      "secret abc: ".repeat(n / 12),
    ];
    for (const line of hostile) {
      const { log } = capture();
      const started = performance.now();
      log.info({ line }, line);
      const took = performance.now() - started;
      // Generous for a loaded machine; a quadratic pass takes minutes on 64 KB.
      assert.ok(took < 1_500, `${JSON.stringify(line.slice(0, 12))}… took ${took.toFixed(0)} ms`);
    }
  });
});
