/** The pure parts of `npm run bench` (argument parsing, run order, medians, ratios, request shapes), and its counting proxy in front of a loopback server. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BOT_KINDS, parseBenchArgs, runOrder } from "../../bench/harness/args.js";
import { selfTimes, shortUrl, summarize } from "../../bench/harness/profile.js";
import { startCountingProxy } from "../../bench/harness/proxy.js";
import { formatCell, median, percentile, renderTable, requestShape, type RunMetrics } from "../../bench/harness/stats.js";

describe("bench arguments", () => {
  test("no arguments: the import times, both named loads, every bot, two runs", () => {
    const o = parseBenchArgs([]);
    assert.equal(o.imports, true);
    assert.deepEqual(o.scenarios.map((s) => [s.name, s.users, s.pingsPerUser, s.rooms]), [
      ["1user", 1, 30, 10],
      ["20users", 20, 25, 200],
    ]);
    assert.deepEqual(o.bots, [...BOT_KINDS]);
    assert.equal(o.runs, 2);
    assert.equal(o.out, "bench/results.jsonl");
    assert.equal(o.profDir, undefined);
  });

  test("hsdata=DIR keeps the homeserver's data there; absent, nothing is kept", () => {
    assert.equal(parseBenchArgs(["rooms=10000", "hsdata=/tmp/x"]).hsData, "/tmp/x");
    assert.equal(parseBenchArgs(["rooms=10000"]).hsData, undefined);
  });

  test("rooms=N alone runs only the rooms scenario; with scenarios= it is added", () => {
    assert.deepEqual(parseBenchArgs(["rooms=10000"]).scenarios, [{ name: "rooms10000", users: 1, pingsPerUser: 10, rooms: 10000 }]);
    assert.equal(parseBenchArgs(["rooms=10000"]).imports, false);
    assert.deepEqual(parseBenchArgs(["scenarios=import"]).scenarios, []);
    assert.equal(parseBenchArgs(["scenarios=import"]).imports, true);
    assert.deepEqual(parseBenchArgs(["scenarios=1user", "rooms=300"]).scenarios.map((s) => s.name), ["1user", "rooms300"]);
  });

  test("users= and pings= override every scenario, and rooms never fall below users", () => {
    const [s] = parseBenchArgs(["scenarios=1user", "users=40", "pings=3"]).scenarios;
    assert.deepEqual(s, { name: "1user", users: 40, pingsPerUser: 3, rooms: 40 });
  });

  test("bots are deduplicated, aliased and put in table order, the floor first", () => {
    assert.deepEqual(parseBenchArgs(["bots=niobot-store,sdk,floor,niobot,sdk"]).bots, ["floor", "matrix-bot-sdk", "niobot", "niobot-store"]);
    assert.deepEqual(parseBenchArgs(["bots=niobot"]).bots, ["niobot"]);
  });

  test("bad input is refused with the offending word", () => {
    assert.throws(() => parseBenchArgs(["runs=0"]), /runs=/);
    assert.throws(() => parseBenchArgs(["runs=two"]), /runs=/);
    assert.throws(() => parseBenchArgs(["rooms=-5"]), /rooms=/);
    assert.throws(() => parseBenchArgs(["bots=synapse"]), /unknown bot "synapse"/);
    assert.throws(() => parseBenchArgs(["scenarios=100users"]), /unknown scenario "100users"/);
    assert.throws(() => parseBenchArgs(["speed=fast"]), /unknown option "speed="/);
    assert.throws(() => parseBenchArgs(["fast"]), /expected key=value/);
  });

  test("help is recognised", () => {
    assert.equal(parseBenchArgs(["help"]).help, true);
    assert.equal(parseBenchArgs(["--help"]).help, true);
  });
});

describe("run order", () => {
  test("rotates by one each run, so every bot leads once per cycle", () => {
    assert.deepEqual(runOrder(["a", "b", "c"], 0), ["a", "b", "c"]);
    assert.deepEqual(runOrder(["a", "b", "c"], 1), ["b", "c", "a"]);
    assert.deepEqual(runOrder(["a", "b", "c"], 3), ["a", "b", "c"]);
    assert.deepEqual(runOrder([], 2), []);
  });

  test("is always a permutation", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer()), fc.nat(50), (xs, run) => {
      assert.deepEqual([...runOrder(xs, run)].sort(), [...xs].sort());
    }));
  });
});

describe("median and percentiles", () => {
  test("odd and even counts, unsorted input, NaN ignored, empty is NaN", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5, NaN, 1]), 3);
    assert.ok(Number.isNaN(median([])));
    assert.equal(percentile([10, 20, 30, 40, 50], 95), 48);
    assert.equal(percentile([7], 95), 7);
  });

  test("the median lies between the minimum and the maximum", () => {
    fc.assert(fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1 }), (xs) => {
      const m = median(xs);
      assert.ok(m >= Math.min(...xs) && m <= Math.max(...xs));
    }));
  });
});

describe("table cells and ratios", () => {
  const row = { digits: 2, unit: " ms" };
  test("a ratio to the floor, none for the floor itself, a zero or a missing floor", () => {
    assert.equal(formatCell(3.65, 1.95, row), "3.65 ms (1.87×)");
    assert.equal(formatCell(1.95, 1.95, row, true), "1.95 ms");
    assert.equal(formatCell(1.5, 0, row), "1.50 ms");
    assert.equal(formatCell(1.5, undefined, row), "1.50 ms");
    assert.equal(formatCell(NaN, 1, row), "–");
  });

  test("the table has a column per bot, medians of its runs and ratios to the first column", () => {
    const m = (requestsPerReply: number, cpuMsPerReply: number): RunMetrics => ({
      requestsPerReply, cpuMsPerReply, p50Ms: 100, p95Ms: 200, peakRssMB: 90, heapMB: 10, startMs: 2000, startCpuMs: 500,
    });
    const table = renderTable(
      [
        { name: "floor", runs: [m(1.2, 2), m(1.3, 4)] },
        { name: "niobot", runs: [m(1.25, 6), m(1.25, 6), m(9, 100)] },
      ],
      [
        { key: "requestsPerReply", label: "requests per reply", digits: 2, unit: "" },
        { key: "cpuMsPerReply", label: "CPU per reply", digits: 1, unit: " ms" },
      ],
    );
    assert.equal(table, [
      "| | floor (2 runs) | niobot (3 runs) |",
      "| --- | --- | --- |",
      "| requests per reply | 1.25 | 1.25 (1.00×) |",
      "| CPU per reply | 3.0 ms | 6.0 ms (2.00×) |",
    ].join("\n"));
  });
});

describe("request shapes", () => {
  test("ids, transaction ids and encoded ids become stars; the endpoint stays", () => {
    assert.equal(requestShape("PUT", "/_matrix/client/v3/rooms/%21abc%3Alocalhost/send/m.room.message/t123?x=1"), "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*");
    assert.equal(requestShape("GET", "/_matrix/client/v3/sync?since=s1&timeout=30000"), "GET /_matrix/client/v3/sync");
    assert.equal(requestShape("PUT", "/_matrix/client/v3/sendToDevice/m.room.encrypted/abc"), "PUT /_matrix/client/v3/sendToDevice/m.room.encrypted/*");
    assert.equal(requestShape("GET", "/_matrix/client/v3/user/@bot:localhost/filter/12"), "GET /_matrix/client/v3/user/*/filter/*");
    assert.equal(requestShape("PUT", "/_matrix/client/v3/rooms/!r:x/redact/$e:x/t9"), "PUT /_matrix/client/v3/rooms/*/redact/*/*");
    assert.equal(requestShape("GET", "/_matrix/client/v3/rooms/!r/state/m.room.member/%40u%3Ax"), "GET /_matrix/client/v3/rooms/*/state/m.room.member/*");
  });

  test("a malformed escape does not throw", () => {
    assert.equal(requestShape("GET", "/a/%E0%A4%A/b"), "GET /a/%E0%A4%A/b");
  });
});

describe("profile summary", () => {
  test("self time per function and per file, from sample gaps, largest first", () => {
    const profile = {
      startTime: 0,
      endTime: 4000,
      nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 } },
        { id: 2, callFrame: { functionName: "parse", url: "file:///w/node_modules/marked/lib/marked.esm.js", lineNumber: 9 } },
        { id: 3, callFrame: { functionName: "commit", url: "file:///w/bench/dist/storage/sqlite.js", lineNumber: 41 } },
        { id: 4, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
      ],
      samples: [2, 3, 3, 2, 4],
      timeDeltas: [0, 1000, 2000, 500, 5000],
    };
    const { byFunction, byFile, totalMs } = summarize(selfTimes(profile));
    // Gaps to the next sample: 2 gets 1 ms + 5 ms, 3 gets 2 ms + 0.5 ms; idle is left out.
    assert.deepEqual(byFunction, [["parse marked/lib/marked.esm.js:10", 6], ["commit dist/storage/sqlite.js:42", 2.5]]);
    assert.deepEqual(byFile.map(([f]) => f), ["marked/lib/marked.esm.js", "dist/storage/sqlite.js"]);
    assert.equal(totalMs, 8.5);
  });

  test("short file names", () => {
    assert.equal(shortUrl("file:///a/b/node_modules/@scope/pkg/x.js"), "@scope/pkg/x.js");
    assert.equal(shortUrl("node:internal/streams"), "node:internal/streams");
    assert.equal(shortUrl(""), "");
  });
});

describe("counting proxy", () => {
  test("keeps the requests since the last reset in arrival order, with status and end, and counts them", async () => {
    const upstream = createServer((req, res) => {
      res.writeHead(req.url?.startsWith("/_matrix/client/v3/account/whoami") ? 401 : 200, { "content-type": "application/json" });
      res.end("{}");
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const proxy = await startCountingProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    try {
      await (await fetch(`${proxy.url}/_matrix/client/v3/sync?timeout=0`)).text();
      proxy.reset();
      await (await fetch(`${proxy.url}/_matrix/client/v3/account/whoami`)).text();
      await (await fetch(`${proxy.url}/_matrix/client/v3/sync?since=s1&timeout=0`)).text();
      await proxy.listening();
      const timeline = proxy.timeline();
      assert.deepEqual(timeline.map((r) => [r.shape, r.status]), [["GET /_matrix/client/v3/account/whoami", 401], ["GET /_matrix/client/v3/sync", 200]]);
      for (const r of timeline) assert.ok(r.end !== undefined && r.at <= r.end, JSON.stringify(r));
      assert.ok((timeline[0]?.at ?? Infinity) <= (timeline[1]?.at ?? -1));
      assert.deepEqual(proxy.counts(), { "GET /_matrix/client/v3/account/whoami": 1, "GET /_matrix/client/v3/sync": 1 });
    } finally {
      await proxy.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
