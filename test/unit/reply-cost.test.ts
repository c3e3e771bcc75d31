/**
 * What a whole bot costs per `!ping` → `pong` in steady state, counted (never timed): promises,
 * timers and calls made while replies flow, against a scripted homeserver that answers at once
 * (the in-process shape of `bench/hotpath.ts`: each incremental sync carries one ping and the
 * echo of the previous reply). Counts, unlike times, do not move with the machine's load, so
 * each cut on the reply path is pinned here: the per-batch hook a bot without crypto does not
 * run, the request time limits that share a timer, the crypto layer's per-batch work in
 * unencrypted rooms.
 */
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import { NioBot } from "../../src/index.js";

const USER = "@bot:localhost";
const HUMAN = "@human:localhost";
/** The rooms the pings and the chatter go to (a bot in more rooms gets its pings in these). */
const ROOMS = 3;
const roomId = (i: number): string => `!room${i}:localhost`;

/** Counts taken over the replies after the first `warm` ones. */
interface Costs {
  replies: number;
  promises: number;
  timers: number;
  /** Calls of the crypto machine's `userId` getter (a wasm call and a wrapper object each). */
  ownUserIdReads: number;
}

/**
 * Runs a bot for `warm + measured` pings and counts what the measured ones cost.
 * `storePath` gives it the documented default store (SQLite, crypto on; the rooms stay unencrypted).
 */
async function replyCosts(measured: number, storePath?: string, warm = 30, chatter = 0, rooms = ROOMS): Promise<Costs> {
  let seq = 0;
  let batches = 0;
  let replies = 0;
  let uploadedKeys = 0;
  let lastReply: { room: string; body: unknown } | undefined;
  let waiting: (() => void) | undefined;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const counts: Costs = { replies: 0, promises: 0, timers: 0, ownUserIdReads: 0 };
  let counting = false;
  const event = (room: string, sender: string, content: object) => ({ type: "m.room.message", event_id: `$e${++seq}`, room_id: room, sender, origin_server_ts: Date.now(), content });
  const json = (value: unknown): Response => new Response(JSON.stringify(value), { status: 200, headers: { "content-type": "application/json" } });
  const initial = {
    next_batch: "s0",
    rooms: {
      join: Object.fromEntries(Array.from({ length: rooms }, (_, i) => [roomId(i), {
        state: { events: [
          { type: "m.room.create", state_key: "", event_id: `$c${i}`, sender: HUMAN, origin_server_ts: 0, content: { room_version: "10", creator: HUMAN } },
          { type: "m.room.member", state_key: HUMAN, event_id: `$h${i}`, sender: HUMAN, origin_server_ts: 0, content: { membership: "join" } },
        ] },
        timeline: { events: [{ type: "m.room.member", state_key: USER, event_id: `$b${i}`, sender: USER, origin_server_ts: 0, content: { membership: "join" } }], limited: false },
      }])),
    },
  };
  const nextBatch = (): unknown => {
    const join: Record<string, { timeline: { events: unknown[]; limited: boolean } }> = {};
    const add = (room: string, e: unknown): void => void (join[room] ??= { timeline: { events: [], limited: false } }).timeline.events.push(e);
    if (lastReply) add(lastReply.room, event(lastReply.room, USER, lastReply.body as object));
    lastReply = undefined;
    const room = roomId(batches % ROOMS);
    // Messages for people, not commands: most of a busy room's traffic.
    for (let i = 0; i < chatter; i++) add(roomId((batches + i) % ROOMS), event(roomId((batches + i) % ROOMS), HUMAN, { msgtype: "m.text", body: `just talking ${batches}` }));
    add(room, event(room, HUMAN, { msgtype: "m.text", body: "!ping" }));
    batches++;
    return { next_batch: `s${batches}`, rooms: { join }, device_one_time_keys_count: { signed_curve25519: uploadedKeys } };
  };
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    if (url.pathname.endsWith("/account/whoami")) return json({ user_id: USER, device_id: "COST" });
    if (url.pathname.endsWith("/sync")) {
      if (!url.searchParams.has("since")) return json(initial);
      // Pings only once start() has resolved: what is counted is the steady state, not the
      // replies a bot with a store gives while its crypto machine is still opening.
      await started;
      // One ping in flight at a time, like a user waiting for the answer.
      if (batches > replies) await new Promise<void>((resolve) => (waiting = resolve));
      // The run is over: a long poll that ends only when the bot aborts it, as a real server's would.
      if (batches >= warm + measured) {
        return new Promise<Response>((_, reject) => {
          const abort = (): void => reject(init.signal?.reason ?? new DOMException("aborted", "AbortError"));
          if (init.signal?.aborted) abort();
          else init.signal?.addEventListener("abort", abort, { once: true });
        });
      }
      return json(nextBatch());
    }
    const send = /\/rooms\/([^/]+)\/send\/m\.room\.message\//.exec(url.pathname);
    if (send && init.method === "PUT") {
      replies++;
      if (replies === warm) counting = true;
      lastReply = { room: decodeURIComponent(send[1]!), body: JSON.parse(String(init.body)) };
      waiting?.();
      waiting = undefined;
      if (replies === warm + measured) {
        counting = false;
        finished();
      }
      return json({ event_id: `$reply${replies}` });
    }
    // The crypto machine's start: its key upload and its own keys; no key backup.
    if (url.pathname.endsWith("/keys/upload")) {
      uploadedKeys += Object.keys((JSON.parse(String(init.body)) as { one_time_keys?: object }).one_time_keys ?? {}).length;
      return json({ one_time_key_counts: { signed_curve25519: uploadedKeys } });
    }
    if (url.pathname.endsWith("/keys/query")) return json({ device_keys: {}, failures: {} });
    return new Response(JSON.stringify({ errcode: "M_NOT_FOUND", error: url.pathname }), { status: 404 });
  };

  const hook = createHook({ init: (_id, type) => void (counting && type === "PROMISE" && counts.promises++) }).enable();
  const { setTimeout: realSetTimeout } = globalThis;
  globalThis.setTimeout = ((...args: Parameters<typeof realSetTimeout>) => (counting && counts.timers++, realSetTimeout(...args))) as typeof realSetTimeout;
  let restoreUserId = (): void => undefined;
  if (storePath) {
    const { OlmMachine } = await import("@matrix-org/matrix-sdk-crypto-wasm");
    const descriptor = Object.getOwnPropertyDescriptor(OlmMachine.prototype, "userId")!;
    Object.defineProperty(OlmMachine.prototype, "userId", { ...descriptor, get(this: unknown) { if (counting) counts.ownUserIdReads++; return descriptor.get!.call(this); } });
    restoreUserId = () => Object.defineProperty(OlmMachine.prototype, "userId", descriptor);
  }
  const bot = new NioBot({ homeserver: "http://localhost:1", userId: USER, fetch, handleSignals: false, storePath, crossSigning: storePath ? false : undefined, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } });
  bot.command("ping", async (ctx) => {
    await ctx.respond("pong");
  });
  try {
    await bot.start({ accessToken: "syt_cost" });
    markStarted();
    await done;
  } finally {
    counting = false;
    hook.disable();
    globalThis.setTimeout = realSetTimeout;
    restoreUserId();
    await bot.stop();
  }
  return { ...counts, replies: measured };
}

describe("what a reply costs, counted", () => {
  test("without a store: no per-batch hook, no timer per request, no await of what is not pending (promises per reply were 140, then 124, now 101; timers 3, then 1, now 0)", async () => {
    const costs = await replyCosts(40);
    const perReply = (n: number): number => n / costs.replies;
    // Each batch ran an async beforeBatch hook (its promise, two awaits, the engine's await) although
    // there is no crypto, and each request started and cleared a timer for its time limit.
    // Then (124 → 101) the engine's async task, the bot's async listener, the router's async
    // `handle`, its awaits of events nobody listens to and of an empty list of checks, the parse
    // of a command without parameters invoked without arguments, and the outbox's wait for the
    // encryption check of a room known to be unencrypted.
    assert.ok(perReply(costs.promises) <= 101, `promises per reply: ${perReply(costs.promises)}`);
    // The coalescing wait before the next long poll while the reply is on its way was the last
    // one: its bound now shares one timer (`DeadlineLane`), armed again only once it has fired.
    assert.ok(perReply(costs.timers) <= 0.1, `timers per reply: ${perReply(costs.timers)}`);
  });

  test("a message that is no command (chatter, the bot's own echo) costs no promise of the router, the bot's listener nor an async task", async () => {
    const plain = await replyCosts(40);
    const busy = await replyCosts(40, undefined, 30, 3);
    const perMessage = (busy.promises - plain.promises) / busy.replies / 3;
    // Was 12: the router's async `handle` and the emitter's wrapper of its promise, the bot's
    // async listener and its await, the engine's async task and its two awaits. What is left: the
    // task's settled promise, the scheduler's wait on it, and the handled record's two.
    assert.ok(perMessage <= 4, `promises per chatter message: ${perMessage}`);
  });

  test("a bot in 2000 rooms pays per reply what a bot in 3 rooms pays: no promise more (the room count is no factor of the reply path)", async () => {
    const few = await replyCosts(40);
    const many = await replyCosts(40, undefined, 30, 0, 2000);
    assert.equal(many.promises / many.replies, few.promises / few.replies);
    assert.equal(many.timers, few.timers);
  });

  test("with the default store, in unencrypted rooms: no save call nor hook wrapper per batch without news, the own user id read once (promises per reply were 140, then 125, now 102)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "niobot-reply-cost-"));
    try {
      const costs = await replyCosts(20, join(dir, "bot.db"));
      assert.equal(costs.ownUserIdReads, 0, "machine.userId read per batch");
      assert.ok(costs.promises / costs.replies <= 102, `store promises per reply: ${costs.promises / costs.replies}`);
      assert.ok(costs.timers / costs.replies <= 0.1, `timers per reply: ${costs.timers / costs.replies}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
