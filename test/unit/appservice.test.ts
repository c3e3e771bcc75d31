import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ClientEvent } from "../../src/api/events.js";
import { MatrixError } from "../../src/api/errors.js";
import {
  generateRegistration,
  NamespaceMatcher,
  parseRegistration,
  RegistrationError,
  registrationToYaml,
} from "../../src/appservice/registration.js";
import { AppserviceServer, type AppserviceHandlers } from "../../src/appservice/server.js";
import { TransactionEngine, TransactionIncompleteError } from "../../src/appservice/transactions.js";
import { silentLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { SyncSink } from "../../src/sync/engine.js";
import { RoomTracker } from "../../src/sync/tracker.js";

test("a generated registration round-trips through YAML, with fresh tokens and rate_limited false", () => {
  const a = generateRegistration({ url: "http://127.0.0.1:9000", serverName: "example.org", id: "bridge", userPrefixes: ["_b_"], aliasPrefixes: ["_b_"] });
  const b = generateRegistration({ url: "http://127.0.0.1:9000", serverName: "example.org", id: "bridge" });
  assert.notEqual(a.as_token, b.as_token);
  assert.notEqual(a.hs_token, a.as_token);
  assert.equal(a.rate_limited, false);
  assert.deepEqual(parseRegistration(registrationToYaml(a)), a);
  const m = new NamespaceMatcher(a, "example.org");
  assert.equal(m.isOwnUser("@_b_alice:example.org"), true);
  assert.equal(m.isOwnUser("@niobot:example.org"), true, "the sender is the appservice's own");
  assert.equal(m.isOwnUser("@alice:example.org"), false);
  // The server name is a literal, not a pattern: "example.org" must not match "exampleXorg".
  assert.equal(m.isOwnUser("@_b_alice:exampleXorg"), false);
  // Anchored: a namespace user id with a suffix is not one.
  assert.equal(m.isOwnUser("@_b_alice:example.org.evil"), false);
  assert.equal(m.isOwnAlias("#_b_room:example.org"), true);
  assert.equal(m.isOwnUser(`@_b_${"a".repeat(300)}:example.org`), false, "ids longer than the spec allows never match");
});

test("invalid registrations are refused with the field named", () => {
  assert.throws(() => parseRegistration("id: x\n"), (e: unknown) => e instanceof RegistrationError && /as_token/.test(e.message));
  assert.throws(() => parseRegistration(": : :"), RegistrationError);
  const good = generateRegistration({ url: "http://h:1", serverName: "s" });
  assert.throws(() => parseRegistration(registrationToYaml({ ...good, namespaces: { users: [{ exclusive: true, regex: "(" }] } })), /does not compile/);
  assert.throws(() => parseRegistration(registrationToYaml({ ...good, namespaces: { users: [{ regex: "x" } as never] } })), /exclusive/);
});

function event(id: string, roomId: string, body: string, sender = "@alice:s"): ClientEvent {
  return { type: "m.room.message", event_id: id, room_id: roomId, sender, origin_server_ts: Date.now(), content: { msgtype: "m.text", body } };
}

function sinkRecording(handled: string[], hold?: Promise<void>): SyncSink {
  return {
    onEvent: async (_room, e) => {
      if (hold) await hold;
      handled.push(e.event_id);
    },
    onInvite: () => undefined,
    onJoin: () => undefined,
    onLeave: () => undefined,
    onSyncError: () => undefined,
    onFatal: () => undefined,
    onError: (error) => {
      throw error;
    },
  };
}

async function engineWith(store: MemoryStore, handled: string[], hold?: Promise<void>): Promise<TransactionEngine> {
  const tracker = new RoomTracker("@bot:s");
  tracker.load(await store.loadRooms());
  tracker.ensureRoom("!r:s", "join");
  const engine = new TransactionEngine({ store, tracker, sink: sinkRecording(handled, hold), log: silentLogger, loadRoomState: async () => [] });
  await engine.start();
  return engine;
}

test("a transaction id handled before is acknowledged without handling, also after a restart", async () => {
  const store = new MemoryStore();
  await store.open();
  const handled: string[] = [];
  const first = await engineWith(store, handled);
  await first.handle("1", { events: [event("$a", "!r:s", "one"), event("$b", "!r:s", "two")] });
  assert.deepEqual(handled, ["$a", "$b"]);
  await first.handle("1", { events: [event("$a", "!r:s", "one"), event("$b", "!r:s", "two")] });
  await first.stop();
  const second = await engineWith(store, handled);
  // The same transaction id with an event it never had: not looked at (the id alone decides).
  await second.handle("1", { events: [event("$z", "!r:s", "new")] });
  // A new transaction carrying an event already handled (a homeserver that re-batched): skipped by event id.
  await second.handle("2", { events: [event("$b", "!r:s", "two"), event("$c", "!r:s", "three")] });
  assert.deepEqual(handled, ["$a", "$b", "$c"]);
});

test("a transaction cut off by stop is not recorded, and its unfinished events run when it comes again", async () => {
  const store = new MemoryStore();
  await store.open();
  const handled: string[] = [];
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const tracker = new RoomTracker("@bot:s");
  tracker.ensureRoom("!r:s", "join");
  tracker.ensureRoom("!q:s", "join");
  const sink = sinkRecording(handled);
  const engine = new TransactionEngine({
    store,
    tracker,
    log: silentLogger,
    loadRoomState: async () => [],
    stopGraceMs: 50,
    sink: {
      ...sink,
      onEvent: async (room, e) => {
        // One handler ignores its abort signal and outlives stop's grace period.
        if (room.roomId === "!r:s") await hold;
        handled.push(e.event_id);
      },
    },
  });
  await engine.start();
  const running = engine.handle("7", { events: [event("$fast", "!q:s", "x"), event("$slow", "!r:s", "y")] });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const stopping = engine.stop();
  await assert.rejects(running, TransactionIncompleteError);
  await stopping;
  release();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(handled, ["$fast", "$slow"]);
  assert.equal(await store.isHandled("$slow"), false, "finished after stop gave up on it: not recorded");
  handled.length = 0;

  const again = await engineWith(store, handled);
  await again.handle("7", { events: [event("$fast", "!q:s", "x"), event("$slow", "!r:s", "y")] });
  assert.deepEqual(handled, ["$slow"], "only the unfinished event ran again");
});

test("malformed events in a transaction are dropped, the rest handled", async () => {
  const store = new MemoryStore();
  await store.open();
  const handled: string[] = [];
  const engine = await engineWith(store, handled);
  await engine.handle("m", { events: [null, 5, { type: "x" }, { ...event("$noroom", "!r:s", "x"), room_id: 3 }, event("$ok", "!r:s", "fine")] as unknown[] });
  await engine.handle("n", { events: "not a list" });
  assert.deepEqual(handled, ["$ok"]);
});

async function withServer(handlers: Partial<AppserviceHandlers>, run: (base: string) => Promise<void>): Promise<void> {
  const server = new AppserviceServer({
    hsToken: "the-hs-token",
    log: silentLogger,
    maxBodyBytes: 1024,
    handlers: { transaction: async () => undefined, queryUser: async () => false, queryAlias: async () => false, ...handlers },
  });
  await server.listen({ port: 0 });
  try {
    await run(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.close();
  }
}

test("the server checks the hs_token on every route, answers per spec, and acknowledges only after the handler", async () => {
  const seen: string[] = [];
  let finished = false;
  await withServer(
    {
      transaction: async (txnId) => {
        seen.push(txnId);
        await new Promise((resolve) => setTimeout(resolve, 30));
        finished = true;
      },
      queryUser: async (userId) => userId === "@_b_yes:s",
    },
    async (base) => {
      const auth = { authorization: "Bearer the-hs-token" };
      for (const [method, path] of [["PUT", "/_matrix/app/v1/transactions/1"], ["GET", "/_matrix/app/v1/users/%40x%3As"], ["GET", "/_matrix/app/v1/rooms/%23x%3As"], ["POST", "/_matrix/app/v1/ping"]] as const) {
        const bad = await fetch(base + path, { method, headers: { authorization: "Bearer wrong" }, body: method === "GET" ? undefined : "{}" });
        assert.equal(bad.status, 403, `${method} ${path}`);
        assert.equal(((await bad.json()) as { errcode: string }).errcode, "M_FORBIDDEN");
      }
      assert.deepEqual(seen, []);
      const put = await fetch(`${base}/_matrix/app/v1/transactions/42`, { method: "PUT", headers: auth, body: JSON.stringify({ events: [] }) });
      assert.equal(put.status, 200);
      assert.equal(finished, true, "the 200 came after the handler finished");
      // Legacy route and legacy query token.
      assert.equal((await fetch(`${base}/transactions/43?access_token=the-hs-token`, { method: "PUT", body: "{}" })).status, 200);
      assert.deepEqual(seen, ["42", "43"]);
      assert.equal((await fetch(`${base}/_matrix/app/v1/users/%40_b_yes%3As`, { headers: auth })).status, 200);
      const no = await fetch(`${base}/_matrix/app/v1/users/%40no%3As`, { headers: auth });
      assert.equal(no.status, 404);
      assert.equal(((await no.json()) as { errcode: string }).errcode, "M_NOT_FOUND");
      assert.equal((await fetch(`${base}/_matrix/app/v1/ping`, { method: "POST", headers: auth, body: "{}" })).status, 200);
      assert.equal((await fetch(`${base}/_matrix/app/v1/nothing`, { headers: auth })).status, 404);
      assert.equal((await fetch(`${base}/_matrix/app/v1/transactions/x`, { method: "PUT", headers: auth, body: "not json" })).status, 400);
      assert.equal((await fetch(`${base}/_matrix/app/v1/transactions/x`, { method: "PUT", headers: auth, body: "[]" })).status, 400);
      assert.equal((await fetch(`${base}/_matrix/app/v1/transactions/x`, { method: "PUT", headers: auth, body: "x".repeat(2048) })).status, 413);
      assert.deepEqual(seen, ["42", "43"], "no malformed request reached the handler");
    },
  );
});

test("any token but the hs_token is refused (property)", async () => {
  await withServer({}, async (base) => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t !== "the-hs-token" && /^[\x21-\x7e]+$/.test(t)), async (token) => {
        const res = await fetch(`${base}/_matrix/app/v1/transactions/p`, { method: "PUT", headers: { authorization: `Bearer ${token}` }, body: "{}" });
        await res.arrayBuffer();
        return res.status === 403;
      }),
      { numRuns: 50 },
    );
  });
});

test("events of a room the store does not know: one state lookup decides, and a room the bot is not in costs one lookup", async () => {
  const store = new MemoryStore();
  await store.open();
  const handled: string[] = [];
  const lookups: string[] = [];
  const tracker = new RoomTracker("@bot:s");
  const engine = new TransactionEngine({
    store,
    tracker,
    sink: sinkRecording(handled),
    log: silentLogger,
    loadRoomState: async (roomId) => {
      lookups.push(roomId);
      if (roomId === "!known-to-server:s")
        return [{ type: "m.room.member", state_key: "@bot:s", event_id: "$j", room_id: roomId, sender: "@bot:s", origin_server_ts: 0, content: { membership: "join" } }];
      if (roomId === "!left:s")
        return [{ type: "m.room.member", state_key: "@bot:s", event_id: "$l", room_id: roomId, sender: "@bot:s", origin_server_ts: 0, content: { membership: "leave" } }];
      throw new MatrixError({ method: "GET", path: "/state" }, 403, { errcode: "M_FORBIDDEN", error: "not in room" });
    },
  });
  await engine.start();
  await engine.handle("1", { events: [event("$a", "!known-to-server:s", "x"), event("$b", "!virtual-only:s", "y"), event("$c", "!virtual-only:s", "z"), event("$d", "!left:s", "w")] });
  assert.deepEqual(handled, ["$a"]);
  assert.deepEqual(lookups, ["!known-to-server:s", "!virtual-only:s", "!left:s"]);
  assert.equal(tracker.rooms.get("!known-to-server:s")?.membership, "join");
  // A transient failure is not "not a member": the transaction is not acknowledged.
  const reported: unknown[] = [];
  const failing = new TransactionEngine({ store, tracker: new RoomTracker("@bot:s"), sink: { ...sinkRecording(handled), onError: (error) => void reported.push(error) }, log: silentLogger, loadRoomState: async () => Promise.reject(new Error("network down")) });
  await failing.start();
  await assert.rejects(failing.handle("2", { events: [event("$e", "!other:s", "v")] }), TransactionIncompleteError);
  assert.match(String(reported[0]), /network down/, "the failure was reported");
});
