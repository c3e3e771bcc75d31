/**
 * The sliding sync window: fixed, asked again larger only when an answer is full of news, then
 * back to its size. `windowStep` is the pure rule; the source's requests are checked with a
 * recording transport (what Synapse does with them is tested in test/integration/sliding-sync.test.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MatrixApi } from "../../src/api/client.js";
import { silentLogger } from "../../src/logging/logger.js";
import { SlidingSyncSource, windowStep } from "../../src/sync/sliding.js";
import { fakeTransport } from "../helpers/fake-transport.js";

describe("windowStep", () => {
  test("an answer with fewer rooms with news than the window is processed, and the window is back to its size", () => {
    assert.deepEqual(windowStep({ end: 63, baseEnd: 31, count: 10_000, roomsWithNews: 40, hadPos: true }), { askAgain: false, end: 31 });
    assert.deepEqual(windowStep({ end: 31, baseEnd: 31, count: 10_000, roomsWithNews: 0, hadPos: true }), { askAgain: false, end: 31 });
  });

  test("a full window is asked again twice as large, never beyond the list", () => {
    assert.deepEqual(windowStep({ end: 31, baseEnd: 31, count: 10_000, roomsWithNews: 32, hadPos: true }), { askAgain: true, end: 63 });
    assert.deepEqual(windowStep({ end: 31, baseEnd: 31, count: 40, roomsWithNews: 32, hadPos: true }), { askAgain: true, end: 39 });
  });

  test("a full window that covers every room, or a new connection's first answer, is processed", () => {
    assert.equal(windowStep({ end: 31, baseEnd: 31, count: 32, roomsWithNews: 32, hadPos: true }).askAgain, false);
    assert.equal(windowStep({ end: 31, baseEnd: 31, count: 10_000, roomsWithNews: 32, hadPos: false }).askAgain, false);
    assert.equal(windowStep({ end: 31, baseEnd: 31, count: undefined, roomsWithNews: 32, hadPos: true }).askAgain, false);
  });

  test("model: with the rooms with news at the top of the list, the processed window holds all of them, in few requests", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 20_000 }), fc.nat(), (size, count, news) => {
        const withNews = news % (count + 1);
        const baseEnd = size - 1;
        let end = baseEnd;
        let asks = 0;
        for (;;) {
          const shown = Math.min(withNews, end + 1, count);
          const step = windowStep({ end, baseEnd, count, roomsWithNews: shown, hadPos: true });
          if (!step.askAgain) {
            assert.ok(withNews < end + 1 || end >= count - 1, "every room with news was in the processed window");
            assert.equal(step.end, baseEnd);
            break;
          }
          assert.ok(step.end > end && step.end <= count - 1);
          end = step.end;
          asks++;
        }
        assert.ok(asks <= Math.ceil(Math.log2(Math.max(1, count / size))) + 1, `${asks} asks for ${withNews} rooms with news`);
      }),
    );
  });
});

describe("SlidingSyncSource requests", () => {
  const room = (id: string) => ({ timeline: [{ type: "m.room.message", event_id: `$${id}`, sender: "@u:x", origin_server_ts: 1, content: { msgtype: "m.text", body: id } }] });

  test("the window keeps its size over long polls; a full answer is asked again larger from the same position, then the window is back", async () => {
    let n = 0;
    const { fetch, requests } = fakeTransport((request) => {
      const pos = request.query.get("pos");
      const ranges = (request.body as { lists: { rooms: { ranges: number[][] } } }).lists.rooms.ranges;
      const size = ranges[0]![1]! + 1;
      n++;
      // The third request finds news in 5 rooms: a window of 2 is full, one of 8 is not.
      const news = pos === "p2" ? Math.min(5, size) : pos === null ? 2 : 0;
      const rooms = Object.fromEntries(Array.from({ length: news }, (_, i) => [`!r${i}:x`, { ...room(`${n}-${i}`), ...(pos === null ? { initial: true } : {}) }]));
      return { status: 200, body: { pos: pos === null ? "p1" : pos === "p1" ? "p2" : `p${n}`, lists: { rooms: { count: 1000 } }, rooms } };
    });
    const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger });
    const source = new SlidingSyncSource({ api, userId: "@bot:x", encryption: false, window: 2 });
    const signal = new AbortController().signal;
    let since: string | undefined;
    for (let i = 0; i < 4; i++) since = (await source.next(since, 30_000, signal)).response.next_batch;
    const seen = requests.map((r) => ({ pos: r.query.get("pos"), timeout: r.query.get("timeout"), range: (r.body as { lists: { rooms: { ranges: number[][] } } }).lists.rooms.ranges[0] }));
    assert.deepEqual(seen, [
      { pos: null, timeout: "0", range: [0, 1] },
      { pos: "p1", timeout: "30000", range: [0, 1] },
      { pos: "p2", timeout: "30000", range: [0, 1] },
      { pos: "p2", timeout: "30000", range: [0, 3] },
      { pos: "p2", timeout: "30000", range: [0, 7] },
      { pos: "p5", timeout: "30000", range: [0, 1] },
    ]);
    assert.equal(source.stats.widened, 2);
    assert.equal(source.window, 2);
  });
});
