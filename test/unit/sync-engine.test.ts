/**
 * The sync engine with a recording transport (pure loop logic; the real homeserver's side is
 * covered by test/integration/sync-robustness and crash-replay): the position is saved only
 * after a batch's handlers finished, handled events are not run again after a restart, a
 * gappy timeline is back-filled, and stop aborts a long poll.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MatrixApi } from "../../src/api/client.js";
import type { ClientEvent } from "../../src/api/events.js";
import type { SyncResponse } from "../../src/api/types.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { StoreChange } from "../../src/storage/store.js";
import { SyncEngine, type SyncSink } from "../../src/sync/engine.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { fakeTransport, gate, type Answer, type Recorded } from "../helpers/fake-transport.js";

const ME = "@bot:x.org";
const ROOM = "!r:x.org";

function message(id: string, body = id): ClientEvent {
  return { event_id: id, type: "m.room.message", sender: "@alice:x.org", origin_server_ts: 1, room_id: ROOM, content: { msgtype: "m.text", body } };
}

/** A sync response with one joined room's timeline. */
function batch(next: string, events: ClientEvent[], timeline: { limited?: boolean; prev_batch?: string } = {}): SyncResponse {
  return { next_batch: next, rooms: { join: { [ROOM]: { timeline: { events: events.map((e) => ({ ...e })), ...timeline } } } } } as SyncResponse;
}

/** A memory store that tells each saved sync position. */
class WatchedStore extends MemoryStore {
  readonly saved: (string | undefined)[] = [];
  readonly #waiters: { token: string; resolve: () => void }[] = [];

  override async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
    await super.commitSync(token, changes);
    this.saved.push(token);
    for (const w of this.#waiters.filter((w) => w.token === token)) w.resolve();
  }

  /** Resolves once `token` has been saved. */
  savedToken(token: string): Promise<void> {
    if (this.saved.includes(token)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ token, resolve }));
  }
}

/** What the fake homeserver answers to `/sync?since=…` (absent: the initial sync) and `/messages`. */
type Server = { sync: (since: string | null) => Answer | Promise<Answer>; messages?: (request: Recorded) => Answer };

function engine(store: MemoryStore, server: Server, sink: Partial<SyncSink>, options: { stopGraceMs?: number } = {}): { engine: SyncEngine; requests: Recorded[] } {
  const { fetch, requests } = fakeTransport((request) => {
    if (request.path.endsWith("/sync")) return server.sync(request.query.get("since"));
    if (request.path.endsWith("/messages") && server.messages) return server.messages(request);
    return { status: 404, body: { errcode: "M_NOT_FOUND", error: request.path } };
  });
  const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger });
  const errors: unknown[] = [];
  const full: SyncSink = {
    onEvent: () => undefined,
    onInvite: () => undefined,
    onJoin: () => undefined,
    onLeave: () => undefined,
    onSyncError: (error) => void errors.push(error),
    onFatal: (error) => void errors.push(error),
    onError: (error) => void errors.push(error),
    ...sink,
  };
  const e = new SyncEngine({ api, store, tracker: new RoomTracker(ME), sink: full, logger: silentLogger, initialBackoffMs: 1, maxBackoffMs: 1, ...options });
  return { engine: e, requests };
}

/** A long poll the server never answers: it ends only when the engine aborts it. */
const forever = (): Promise<Answer> => new Promise<Answer>(() => undefined);

describe("SyncEngine (recording transport)", () => {
  test("the position of a batch is saved only after its handlers finished; the first sync's timeline is history", async () => {
    const store = new WatchedStore();
    await store.open();
    const handled: string[] = [];
    const started = gate();
    const release = gate();
    const { engine: e } = engine(
      store,
      { sync: (since) => (since === null ? { body: batch("t1", [message("$old")]) } : since === "t1" ? { body: batch("t2", [message("$new")]) } : forever()) },
      {
        onEvent: async (_room, event) => {
          handled.push(event.event_id);
          started.open();
          await release.promise;
        },
      },
    );
    await e.start();
    await store.savedToken("t1");
    await started.promise;
    // The handler of $new is running: t2 must not be saved yet (a crash now must replay $new).
    assert.equal(await store.getSyncToken(), "t1");
    assert.ok(!store.saved.includes("t2"));
    release.open();
    await store.savedToken("t2");
    assert.equal(await store.getSyncToken(), "t2");
    assert.deepEqual(handled, ["$new"], "the initial sync's timeline is not dispatched");
    await e.stop();
  });

  test("a batch gate from beforeBatch: the batch is dispatched at once, its token (and every later one) waits for the gate", async () => {
    const store = new WatchedStore();
    await store.open();
    await store.commitSync("t0", []);
    const handled: string[] = [];
    const fed = gate();
    const secondHandled = gate();
    const { engine: e } = engine(
      store,
      { sync: (since) => (since === "t0" ? { body: batch("t1", [message("$a")]) } : since === "t1" ? { body: batch("t2", [message("$b")]) } : forever()) },
      {
        // The first batch is held for the sink (as the crypto start queue does while its machine opens).
        beforeBatch: (response) => (response.next_batch === "t1" ? { consumed: fed.promise } : undefined),
        onEvent: (_room, event) => {
          handled.push(event.event_id);
          if (event.event_id === "$b") secondHandled.open();
        },
      },
    );
    await e.start();
    await secondHandled.promise;
    assert.deepEqual(handled, ["$a", "$b"], "both batches were dispatched while the gate is closed");
    // Give every queued commit its turn: none may pass the gated batch.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(!store.saved.includes("t1") && !store.saved.includes("t2"), `saved: ${store.saved.join(", ")}`);
    assert.equal(await store.getSyncToken(), "t0");
    fed.open();
    await store.savedToken("t2");
    await e.stop();
  });

  test("a rejected batch gate keeps the position before the batch, through stop", async () => {
    const store = new WatchedStore();
    await store.open();
    await store.commitSync("t0", []);
    const handled = gate();
    const { engine: e } = engine(
      store,
      { sync: (since) => (since === "t0" ? { body: batch("t1", [message("$a")]) } : forever()) },
      {
        beforeBatch: () => ({ consumed: Promise.reject(new Error("the machine failed")) }),
        onEvent: () => handled.open(),
      },
    );
    await e.start();
    await handled.promise;
    await e.stop();
    assert.equal(await store.getSyncToken(), "t0");
  });

  test("the next long poll waits for the handlers of the last batch, so their echoes come in one response", async () => {
    const store = new WatchedStore();
    await store.open();
    const started = gate();
    const release = gate();
    const polled = gate();
    const { engine: e, requests } = engine(
      store,
      {
        sync: (since) => {
          if (since === null) return { body: batch("t1", []) };
          if (since === "t1") return { body: batch("t2", [message("$ping")]) };
          polled.open();
          return forever();
        },
      },
      {
        onEvent: async () => {
          started.open();
          await release.promise;
        },
      },
    );
    await e.start();
    await started.promise;
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    const since = (): (string | null)[] => requests.filter((r) => r.path.endsWith("/sync")).map((r) => r.query.get("since"));
    assert.deepEqual(since(), [null, "t1"], "no poll from t2 while the handler of $ping runs");
    release.open();
    await polled.promise;
    assert.deepEqual(since(), [null, "t1", "t2"]);
    await e.stop();
  });

  test("events handled before a restart are not run again; the one cut off is", async () => {
    const store = new WatchedStore();
    await store.open();
    await store.commitSync("t1", []);
    const serve = (): Server => ({ sync: (since) => (since === "t1" ? { body: batch("t2", [message("$a"), message("$b")]) } : forever()) });

    // First run: $a finishes, $b hangs (the process will "crash" while it runs).
    const first: string[] = [];
    const bStarted = gate();
    const run1 = engine(store, serve(), {
      onEvent: async (_room, event) => {
        first.push(event.event_id);
        if (event.event_id === "$b") {
          bStarted.open();
          await forever();
        }
      },
    }, { stopGraceMs: 1 });
    await run1.engine.start();
    await bStarted.promise;
    await run1.engine.stop();
    assert.deepEqual(first, ["$a", "$b"]);
    assert.equal(await store.getSyncToken(), "t1", "t2 was never saved: $b did not finish");
    assert.equal(await store.isHandled("$a"), true);

    // Second run on the same store: the same batch comes again; only $b runs.
    const second: string[] = [];
    const bDone = gate();
    const run2 = engine(store, serve(), {
      onEvent: (_room, event) => {
        second.push(event.event_id);
        if (event.event_id === "$b") bDone.open();
      },
    });
    await run2.engine.start();
    await bDone.promise;
    await store.savedToken("t2");
    assert.deepEqual(second, ["$b"]);
    await run2.engine.stop();
    assert.equal(run2.requests.filter((r) => r.path.endsWith("/sync"))[0]?.query.get("since"), "t1");
  });

  test("a gappy (limited) timeline is back-filled from /messages down to the previous position, in order", async () => {
    const store = new WatchedStore();
    await store.open();
    await store.commitSync("t1", []);
    const handled: string[] = [];
    const { engine: e, requests } = engine(
      store,
      {
        sync: (since) => (since === "t1" ? { body: batch("t2", [message("$5"), message("$6")], { limited: true, prev_batch: "p5" }) } : forever()),
        // Newest first, as dir=b pages come: $4 $3, then $2 $1, then nothing.
        messages: (request) => {
          const from = request.query.get("from");
          if (from === "p5") return { body: { chunk: [message("$4"), message("$3")], start: "p5", end: "p3" } };
          if (from === "p3") return { body: { chunk: [message("$2"), message("$1")], start: "p3", end: "p1" } };
          return { body: { chunk: [], start: from } };
        },
      },
      { onEvent: (_room, event) => void handled.push(event.event_id) },
    );
    await e.start();
    await store.savedToken("t2");
    assert.deepEqual(handled, ["$1", "$2", "$3", "$4", "$5", "$6"]);
    const pages = requests.filter((r) => r.path.endsWith("/messages"));
    assert.ok(pages.length >= 2);
    for (const page of pages) {
      assert.equal(page.query.get("to"), "t1", "back-filled down to the previous position only");
      assert.equal(page.query.get("dir"), "b");
    }
    await e.stop();
  });

  test("stop during a long poll aborts the request at once and syncs no more", async () => {
    const store = new WatchedStore();
    await store.open();
    const polling = gate();
    const { engine: e, requests } = engine(store, {
      sync: (since) => {
        if (since === null) return { body: batch("t1", []) };
        polling.open();
        return forever();
      },
    }, {});
    await e.start();
    await polling.promise;
    const poll = requests.at(-1);
    assert.equal(poll?.query.get("since"), "t1");
    assert.equal(poll?.signal?.aborted, false);
    // The server would hold this poll for its whole timeout; stop must not wait for it.
    await e.stop();
    assert.equal(poll?.signal?.aborted, true);
    assert.equal(e.running, false);
    const count = requests.length;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(requests.length, count, "no sync after stop");
    assert.equal(await store.getSyncToken(), "t1");
  });

  test("a processed response is not kept alive through the next long poll (the initial sync of 10 000 rooms is tens of MB)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const store = new WatchedStore();
    await store.open();
    const polling = gate();
    let first: WeakRef<SyncResponse> | undefined;
    const { engine: e } = engine(store, {
      sync: (since) => {
        if (since === null) return { body: batch("t1", [message("$old")]) };
        polling.open();
        return forever();
      },
    }, { beforeBatch: (response) => void (first ??= new WeakRef(response)) });
    await e.start();
    await polling.promise;
    await store.savedToken("t1");
    // A WeakRef's target survives until the current job ends: collect from a later one.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.ok(first, "the engine saw the first response");
    assert.equal(first.deref(), undefined, "the first response was collected while the next poll waits");
    await e.stop();
  });
});
