/**
 * The sync loop under failure, against the real Synapse: a store that fails
 * to write (wrapping the real SqliteStore), malformed responses (the real
 * response, altered in the transport), hung handlers, and bursts of events.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import type { NioBotOptions } from "../../src/bot/bot.js";
import type { ErrorContext } from "../../src/bot/events.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import type { StoreChange } from "../../src/storage/store.js";
import { MatrixApi } from "../../src/api/client.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { HandlerTimeoutError, SyncBatchSkippedError } from "../../src/sync/errors.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { handlerSignal } from "../../src/sync/scheduler.js";
import { faultyFetch, type FaultRule } from "../helpers/faults.js";
import { homeserver, newBot, newTestUser, tempStorePath, type TestUser } from "../helpers/matrix.js";
import type { RegisteredUser } from "../../src/devserver/index.js";

/** Polls until `check` holds; fails the test after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Records every sync response's `next_batch` and timeline event ids, in order. */
function syncTap(): { fetch: FetchLike; responses: { token: string; eventIds: string[] }[] } {
  const responses: { token: string; eventIds: string[] }[] = [];
  const tap: FetchLike = async (input, init) => {
    const response = await fetch(input, init);
    if (!new URL(input).pathname.endsWith("/sync") || !response.ok) return response;
    const body = (await response.json()) as { next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: { event_id: string }[] } }> } };
    const eventIds = Object.values(body.rooms?.join ?? {}).flatMap((room) => (room.timeline?.events ?? []).map((e) => e.event_id));
    responses.push({ token: body.next_batch, eventIds });
    return new Response(JSON.stringify(body), { status: response.status, headers: { "content-type": "application/json" } });
  };
  return { fetch: tap, responses };
}

/** Whether the saved sync token is `token` or a later one (by the order responses arrived). */
function savedAtOrAfter(responses: { token: string }[], saved: string | undefined, token: string): boolean {
  const tokens = responses.map((r) => r.token);
  return saved !== undefined && tokens.lastIndexOf(saved) >= tokens.indexOf(token);
}

/** A started bot that joined a room of a fresh human. */
async function joinedBot(options: Partial<NioBotOptions> = {}, account?: RegisteredUser) {
  const human = await newTestUser();
  const { bot, account: acc } = await newBot({ encryption: false, ...options }, account);
  const errors: { error: unknown; context: ErrorContext }[] = [];
  bot.on("error", (error, context) => void errors.push({ error, context }));
  const handled: string[] = [];
  bot.on("message", (_room, event) => void handled.push(event.event_id));
  await bot.start({ password: acc.password });
  const roomId = await human.createRoom([bot.userId]);
  await until("the bot joined", () => bot.getRoom(roomId)?.membership === "join");
  return { human, bot, roomId, account: acc, errors, handled };
}

/** Sends a message and waits until the bot's `message` listeners got it. */
async function sendHandled(human: TestUser, roomId: string, body: string, handled: string[]): Promise<string> {
  const eventId = await human.send(roomId, body);
  await until(`the bot handled "${body}"`, () => handled.includes(eventId));
  return eventId;
}

const diskFull = (): Error => Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });

describe("store failures", () => {
  test("markHandled throwing once: the process survives, the error is reported, the record is retried", async () => {
    class FullOnce extends SqliteStore {
      failMarks = 0;
      override async markHandled(eventId: string): Promise<void> {
        if (this.failMarks > 0) {
          this.failMarks--;
          throw diskFull();
        }
        return super.markHandled(eventId);
      }
    }
    const store = new FullOnce(tempStorePath());
    const { human, bot, roomId, errors, handled } = await joinedBot({ store });
    store.failMarks = 1;
    const first = await sendHandled(human, roomId, "while the disk is full", handled);
    await until("the failure was reported", () => errors.some((e) => e.context.source === "store"));
    assert.equal((errors.find((e) => e.context.source === "store")?.error as { code?: string }).code, "SQLITE_FULL");
    await until("the record was written on a retry", () => store.isHandled(first));
    await sendHandled(human, roomId, "and the bot keeps going", handled);
    assert.ok(bot.running);
    await bot.stop();
  });

  test("commitSync throwing once: its room state is in the next commit, and a restart sees the room encrypted", async () => {
    class FailingCommit extends SqliteStore {
      failOn: ((changes: readonly StoreChange[]) => boolean) | undefined;
      failures = 0;
      commitsAfterFailure = 0;
      override async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
        if (this.failOn?.(changes)) {
          this.failOn = undefined;
          this.failures++;
          throw diskFull();
        }
        await super.commitSync(token, changes);
        if (this.failures > 0) this.commitsAfterFailure++;
      }
    }
    const path = tempStorePath();
    const store = new FailingCommit(path);
    const { human, bot, roomId, account, errors, handled } = await joinedBot({ store });
    store.failOn = (changes) => changes.some((c) => c.kind === "state" && c.type === "m.room.encryption");
    await human.api.rooms.putState(roomId, "m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2" });
    await until("the commit with the encryption change failed", () => store.failures === 1);
    // Later batches move the token on; the lost change must ride along.
    await sendHandled(human, roomId, "later", handled);
    await until("a later commit succeeded", () => store.commitsAfterFailure > 0);
    await bot.stop();

    const reopened = new SqliteStore(path);
    await reopened.open();
    const stored = await reopened.loadRooms();
    await reopened.close();
    assert.ok(stored.state.some((s) => s.roomId === roomId && s.type === "m.room.encryption"), "the encryption state was saved");

    const { bot: again } = await newBot({ store: new SqliteStore(path), encryption: false }, account);
    await again.start();
    assert.equal(again.getRoom(roomId)?.isEncrypted, true, "after a restart the room is still encrypted");
    await again.stop();
    assert.ok(errors.some((e) => e.context.source === "store"), "the failure was reported");
  });
});

describe("malformed sync responses", () => {
  test("account_data.events: [null] in a real sync response: dropped, the events handled, the token still advances", async () => {
    const tap = syncTap();
    let roomId = "";
    let bad: string | undefined;
    const rules: FaultRule[] = [
      {
        path: /\/sync$/,
        times: 1_000,
        fault: {
          kind: "rewrite",
          json: (raw) => {
            const body = raw as Record<string, unknown>;
            const rooms = body.rooms as { join?: Record<string, unknown> } | undefined;
            if (bad !== undefined || roomId === "" || !rooms?.join?.[roomId]) return body;
            body.account_data = { events: [null] };
            bad = body.next_batch as string;
            return body;
          },
        },
      },
    ];
    const faults = faultyFetch(rules, tap.fetch);
    const started = await joinedBot({ fetch: faults.fetch });
    const { human, bot, handled } = started;
    roomId = started.roomId;
    const eventId = await sendHandled(human, roomId, "in the malformed response", handled);
    await until("the malformed response arrived", () => bad !== undefined);
    assert.ok(tap.responses.find((r) => r.token === bad)?.eventIds.includes(eventId) || handled.includes(eventId));
    await sendHandled(human, roomId, "after it", handled);
    await until("the saved position passed the malformed response", async () => savedAtOrAfter(tap.responses, await bot.store.getSyncToken(), bad as string));
    await bot.stop();
  });

  test("a response that keeps failing is reported through syncError and the error funnel, then processed without the failing part", async () => {
    const hs = await homeserver();
    const human = await newTestUser();
    const botUser = await newTestUser("engine");
    const roomId = await human.createRoom([botUser.userId]);
    await botUser.api.rooms.join(roomId);
    const syncErrors: unknown[] = [];
    const reported: { error: unknown; source: string }[] = [];
    const handled: string[] = [];
    let failing = false;
    const engine = new SyncEngine({
      api: new MatrixApi({ baseUrl: hs.baseUrl, accessToken: botUser.account.accessToken }),
      store: new MemoryStore(),
      tracker: new RoomTracker(botUser.userId),
      initialBackoffMs: 10,
      maxBackoffMs: 20,
      sink: {
        // Say, a to-device handler that throws on this response every time.
        beforeBatch: (response) => {
          if (failing && response.rooms?.join?.[roomId]?.timeline?.events.length) throw new Error("cannot process this response");
        },
        onEvent: (_room, event) => void handled.push(event.event_id),
        onInvite: () => undefined,
        onJoin: () => undefined,
        onLeave: () => undefined,
        onSyncError: (error) => void syncErrors.push(error),
        onFatal: () => undefined,
        onError: (error, context) => void reported.push({ error, source: context.source }),
      },
    });
    await engine.start();
    failing = true;
    const eventId = await human.send(roomId, "behind a bad response");
    await until("the failing part was given up on", () => reported.some((r) => r.error instanceof SyncBatchSkippedError), 30_000);
    failing = false;
    assert.equal(syncErrors.length, 4, "each failure before giving up reached syncError");
    await until("the message was handled after all", () => handled.includes(eventId));
    await engine.stop();
  });
});

describe("health", () => {
  test("three failed syncs in a row make health() unhealthy with the reason; the next success makes it active again", async () => {
    const rules: FaultRule[] = [];
    const faults = faultyFetch(rules);
    const { bot } = await joinedBot({ fetch: faults.fetch, retry: { maxTransientRetries: 0 }, syncTimeoutMs: 500 });
    try {
      assert.equal(bot.health().status, "active");
      rules.push({ method: "GET", path: /\/sync$/, times: 3, fault: { kind: "status", status: 502, body: { errcode: "M_UNKNOWN", error: "bad gateway" } } });
      const injected = () => faults.log.filter((r) => r.fault === "status").length;
      await until("the first sync failed", () => injected() >= 1);
      assert.equal(bot.health().status, "active", "one failure is a blip");
      await until("health() turned unhealthy", () => bot.health().status === "unhealthy", 30_000);
      const health = bot.health();
      assert.equal(health.ready, false);
      assert.equal(injected(), 3);
      assert.match(health.reason ?? "", /^sync failing since \d{4}-.* \(3 attempts\): /);
      await until("a sync succeeded again", () => bot.health().status === "active", 30_000);
      assert.equal(bot.health().ready, true);
    } finally {
      await bot.stop();
    }
  });
});

describe("handler concurrency", () => {
  test("a burst caught up after downtime: never more than maxConcurrentHandlers at once, each room in order", async () => {
    const storePath = tempStorePath();
    const first = await joinedBot({ storePath });
    const { human, account } = first;
    const rooms = [first.roomId];
    for (let i = 0; i < 2; i++) {
      const roomId = await human.createRoom([first.bot.userId]);
      await until("the bot joined", () => first.bot.getRoom(roomId)?.membership === "join");
      rooms.push(roomId);
    }
    await first.bot.stop();
    // One catch-up batch of 3 rooms × 15 messages.
    for (let i = 0; i < 15; i++) for (const roomId of rooms) await human.send(roomId, `${i}`);

    const { bot } = await newBot({ storePath, encryption: false, maxConcurrentHandlers: 2 }, account);
    let running = 0;
    let peak = 0;
    const seen = new Map<string, number[]>();
    bot.on("message", async (room, event) => {
      running++;
      peak = Math.max(peak, running);
      seen.set(room.roomId, [...(seen.get(room.roomId) ?? []), Number(event.content.body)]);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running--;
    });
    await bot.start();
    await until("every message was handled", () => [...seen.values()].reduce((n, list) => n + list.length, 0) >= 45);
    assert.ok(peak <= 2, `at most 2 handlers at once (saw ${peak})`);
    for (const roomId of rooms) assert.deepEqual(seen.get(roomId), [...Array(15).keys()], "in send order");
    await bot.stop();
  });

  test("a conversation in one room cannot deadlock, even with one handler at a time", async () => {
    const { human, bot, roomId } = await joinedBot({ maxConcurrentHandlers: 1 });
    bot.command("quiz", async (ctx) => {
      await ctx.respond("What is 2 + 2?");
      const answer = await bot.waitForMessage({ room: ctx.room, sender: ctx.sender, timeoutMs: 30_000 });
      await ctx.respond(answer.content.body === "4" ? "Correct!" : "No.");
    });
    await human.send(roomId, "!quiz");
    await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "What is 2 + 2?");
    await human.send(roomId, "4");
    await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "Correct!");
    await bot.stop();
  });
});

describe("handler deadlines", () => {
  test("a handler that never returns: reported as slow after the deadline, its signal aborted, and the token saved past it", async () => {
    const tap = syncTap();
    const { human, bot, roomId, errors, handled } = await joinedBot({ fetch: tap.fetch, handlerTimeoutMs: 300 });
    let started = false;
    let signal: AbortSignal | undefined;
    bot.on("message", async (_room, event) => {
      if (event.content.body !== "hang") return;
      started = true;
      signal = handlerSignal();
      await new Promise(() => undefined); // never settles
    });
    const hung = await human.send(roomId, "hang");
    await until("the hung handler started", () => started);
    await sendHandled(human, roomId, "after it", handled);
    const token = tap.responses.find((r) => r.eventIds.includes(hung))?.token as string;
    await until("the saved position passed the hung handler's batch", async () => savedAtOrAfter(tap.responses, await bot.store.getSyncToken(), token));
    await until("it was reported as slow", () => errors.some((e) => e.context.source === "handlerTimeout"));
    // Under load another handler (the join) may overrun the short deadline too: pick the hung one's report.
    await until("the hung handler was reported", () => errors.some((e) => e.context.source === "handlerTimeout" && e.context.event?.event_id === hung));
    const report = errors.find((e) => e.context.source === "handlerTimeout" && e.context.event?.event_id === hung);
    assert.ok(report?.error instanceof HandlerTimeoutError);
    assert.equal(report.context.event?.event_id, hung);
    assert.equal(signal?.aborted, true);
    assert.ok(signal?.reason instanceof HandlerTimeoutError);
    await bot.stop();
  });

  test("ctx.signal aborts at the deadline; a stuck alias lookup gives up in time", async () => {
    const faults = faultyFetch([{ path: /\/directory\/room\//, times: 1_000, fault: { kind: "hang" } }]);
    const { human, bot, roomId } = await joinedBot({ fetch: faults.fetch, handlerTimeoutMs: 1_500, aliasLookupTimeoutMs: 200 });
    bot.command("slow", async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      await ctx.respond(`gave up: ${(ctx.signal.reason as Error).name}`);
    });
    bot.command("where", { args: "<target:room>" }, (ctx, { target }) => ctx.respond(target));
    await human.send(roomId, "!slow");
    await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "gave up: HandlerTimeoutError");
    await human.send(roomId, "!where #nowhere:localhost");
    const reply = await human.waitForEvent((e) => e.sender === bot.userId && String(e.content.body).includes("#nowhere:localhost"));
    assert.match(String(reply.content.body), /could not resolve #nowhere:localhost in time/);
    await bot.stop();
  });
});
