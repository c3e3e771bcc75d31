import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MatrixError, MatrixNetworkError, redactPath } from "../../src/api/errors.js";
import { fillPath } from "../../src/api/endpoints.js";
import { retryAfterOf } from "../../src/api/http.js";
import { autoJoinAllowed } from "../../src/bot/autojoin.js";
import { TypedEmitter, WaitTimeoutError } from "../../src/events/emitter.js";
import { consoleLogger, redactingLogger } from "../../src/logging/logger.js";
import { backoffDelay, KeyedMutex, sleep } from "../../src/util/async.js";

describe("secrets never leak", () => {
  test("redactPath removes tokens from queries and token-shaped strings", () => {
    assert.equal(redactPath("/sync?access_token=abc&since=s1"), "/sync?access_token=<redacted>&since=s1");
    assert.equal(redactPath("Bearer syt_Ym90_abcDEF_123"), "Bearer <redacted>");
  });

  test("MatrixError and MatrixNetworkError messages carry no token", () => {
    const e = new MatrixError({ method: "GET", path: "/x?access_token=secret1" }, 403, { errcode: "M_FORBIDDEN", error: "nope syt_aa_bb" });
    assert.equal(e.errcode, "M_FORBIDDEN");
    assert.equal(e.status, 403);
    assert.doesNotMatch(e.message, /secret1|syt_aa_bb/);
    const n = new MatrixNetworkError({ method: "GET", path: "/y?access_token=secret2" }, new Error("boom"));
    assert.doesNotMatch(n.message, /secret2/);
    assert.match(n.message, /boom/);
  });

  test("the redacting logger scrubs secret fields and token-shaped text", () => {
    const lines: string[] = [];
    const log = redactingLogger(consoleLogger("debug", { write: (l: string) => lines.push(l) }));
    log.info({ accessToken: "syt_x_y", password: "hunter2", nested: { access_token: "zzz" }, roomId: "!r:s" }, "login with syt_q_w");
    const line = lines.join("");
    assert.doesNotMatch(line, /syt_x_y|hunter2|zzz|syt_q_w/);
    assert.match(line, /!r:s/);
  });
});

describe("http helpers", () => {
  test("retryAfterOf prefers retry_after_ms, then Retry-After seconds or date", () => {
    assert.equal(retryAfterOf({ retry_after_ms: 1500 }, new Headers({ "retry-after": "9" })), 1500);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": "2" })), 2000);
    const inFuture = new Date(Date.now() + 3000).toUTCString();
    const wait = retryAfterOf({}, new Headers({ "retry-after": inFuture }));
    assert.ok(wait !== undefined && wait > 1000 && wait <= 3000);
    assert.equal(retryAfterOf({}, new Headers()), undefined);
  });

  test("retryAfterOf ignores negative and unreadable waits, and keeps huge ones for the cap to refuse", () => {
    assert.equal(retryAfterOf({ retry_after_ms: -5 }, new Headers()), undefined);
    assert.equal(retryAfterOf({ retry_after_ms: Number.NaN }, new Headers()), undefined);
    assert.equal(retryAfterOf({ retry_after_ms: "9" }, new Headers({ "retry-after": "1" })), 1000);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": "-5" })), undefined);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": "NaN" })), undefined);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": " " })), undefined);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": "Infinity" })), undefined);
    assert.equal(retryAfterOf(JSON.parse('{"retry_after_ms":1e400}') as Record<string, unknown>, new Headers()), Infinity);
    assert.equal(retryAfterOf({}, new Headers({ "retry-after": "86400" })), 86_400_000);
  });

  test("fillPath percent-encodes every parameter", () => {
    assert.equal(fillPath("/rooms/{roomId}/send/{type}/{txn}", { roomId: "!a/b:c", type: "m.room.message", txn: "t 1" }), "/rooms/!a%2Fb%3Ac/send/m.room.message/t%201");
    assert.throws(() => fillPath("/x/{id}", {}), /missing path parameter id/);
    assert.throws(() => fillPath("/x/{id}", {}), /missing path parameter id/, "the same once the template is known");
  });

  test("fillPath fills any template as the regex replacement it replaces did", () => {
    const reference = (template: string, params: Record<string, string>): string =>
      template.replace(/\{(\w+)\}/g, (_, name: string) => {
        const value = params[name];
        if (value === undefined) throw new TypeError(`missing path parameter ${name} for ${template}`);
        return encodeURIComponent(value);
      });
    const outcome = (fill: () => string): string => {
      try {
        return fill();
      } catch (error) {
        return `throws ${(error as Error).message}`;
      }
    };
    const segment = fc.oneof(fc.constantFrom("{a}", "{b}", "{a_1}", "{c}", "/", "{", "}", "{}", "{-}"), fc.string({ maxLength: 5 }));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), fc.string(), fc.string(), fc.string(), (segments, a, b, a1) => {
        const template = segments.join("");
        const params = { a, b, a_1: a1 };
        const expected = outcome(() => reference(template, params));
        assert.equal(outcome(() => fillPath(template, params)), expected);
        assert.equal(outcome(() => fillPath(template, params)), expected);
      }),
      { numRuns: 2000 },
    );
  });

  test("backoff is capped and grows", () => {
    for (let i = 0; i < 20; i++) assert.ok(backoffDelay(i, 100, 1000) <= 1000);
    assert.ok(backoffDelay(0, 100, 1000) <= 100);
    assert.ok(backoffDelay(5, 100, 10_000) >= 1600);
  });
});

describe("KeyedMutex", () => {
  test("serializes per key in call order and runs keys concurrently", async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    const job = (key: string, id: string, ms: number) => mutex.run(key, async () => {
      order.push(`start ${id}`);
      await sleep(ms);
      order.push(`end ${id}`);
      return id;
    });
    const results = await Promise.all([job("a", "a1", 30), job("a", "a2", 1), job("b", "b1", 5)]);
    assert.deepEqual(results, ["a1", "a2", "b1"]);
    assert.ok(order.indexOf("end a1") < order.indexOf("start a2"));
    assert.ok(order.indexOf("start b1") < order.indexOf("end a1"));
    assert.equal(mutex.size, 0, "settled keys are forgotten");
  });

  test("a failing job does not block the next one", async () => {
    const mutex = new KeyedMutex();
    await assert.rejects(mutex.run("k", async () => { throw new Error("x"); }));
    assert.equal(await mutex.run("k", async () => 42), 42);
  });

  test("a run makes two promises of its own (every send goes through one; it was four), and work starts after the current task", async () => {
    const mutex = new KeyedMutex();
    let made = 0;
    let started = false;
    const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && made++) }).enable();
    const first = mutex.run("k", () => ((started = true), Promise.resolve(1)));
    const second = mutex.run("k", () => Promise.resolve(2));
    hook.disable();
    assert.equal(made, 4);
    assert.equal(started, false);
    assert.deepEqual(await Promise.all([first, second]), [1, 2]);
    assert.equal(mutex.size, 0);
  });
});

describe("TypedEmitter", () => {
  type Events = { ping: [n: number] };
  test("emit waits for async listeners and funnels sync and async errors", async () => {
    const errors: string[] = [];
    const emitter = new TypedEmitter<Events>((e, name) => errors.push(`${name}:${(e as Error).message}`));
    let done = false;
    emitter.on("ping", async () => { await sleep(10); done = true; });
    emitter.on("ping", () => { throw new Error("sync"); });
    emitter.on("ping", async () => { throw new Error("async"); });
    await emitter.emit("ping", 1);
    assert.equal(done, true);
    assert.deepEqual(errors.sort(), ["ping:async", "ping:sync"]);
  });

  test("once, off and waitFor with check and timeout", async () => {
    const emitter = new TypedEmitter<Events>(() => assert.fail("no errors expected"));
    const seen: number[] = [];
    emitter.once("ping", (n) => void seen.push(n));
    const waiting = emitter.waitFor("ping", (n) => n > 2, 1000);
    await emitter.emit("ping", 1);
    await emitter.emit("ping", 3);
    assert.deepEqual(await waiting, [3]);
    assert.deepEqual(seen, [1]);
    assert.equal(emitter.listenerCount("ping"), 0);
    await assert.rejects(emitter.waitFor("ping", undefined, 20), WaitTimeoutError);
  });
});

describe("autoJoin policy", () => {
  test("booleans and allowlists of users and servers", () => {
    assert.equal(autoJoinAllowed(true, undefined), true);
    assert.equal(autoJoinAllowed(false, "@a:b"), false);
    const policy = { users: ["@boss:corp.example"], servers: ["friends.example"] };
    assert.equal(autoJoinAllowed(policy, "@boss:corp.example"), true);
    assert.equal(autoJoinAllowed(policy, "@x:friends.example"), true);
    assert.equal(autoJoinAllowed(policy, "@x:corp.example"), false);
    assert.equal(autoJoinAllowed(policy, "@x:friends.example.evil"), false);
    assert.equal(autoJoinAllowed(policy, undefined), false);
  });
});
