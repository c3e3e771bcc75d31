/**
 * `npx tsx bench/hotpath.ts [replies=3000] [rooms=200] [chatter=3]`: niobot's own CPU per reply
 * on the per-event path (sync response → sanitize → tracker → router → context → compose → outbox
 * → fetch), in process, with the homeserver played by a scripted `fetch` that answers from
 * recorded-shape responses at once. No Synapse, no network: what is left is the framework's cost,
 * so a change can be measured in seconds without the noise of a shared machine.
 *
 * Each incremental sync carries one `!ping` (in a round-robin room), the echo of the bot's
 * previous reply, and `chatter` ordinary messages that are not commands (most traffic in big
 * rooms), like the bench's 20-user load. Prints CPU µs per reply and per event
 * (run it with `node --cpu-prof --import tsx` to see where they go).
 * `bot=floor` runs the floor bot's loop (`bots/floor.mjs`) against the same script instead, for a ratio.
 * `count=1` also counts, per reply, what load noise cannot blur: promises created (through an
 * `async_hooks` init hook, which itself costs CPU, so the µs are not comparable then), timers
 * started and abort controllers made.
 * `alloc=1` also estimates the bytes allocated per reply, collected garbage included (V8's sampling
 * heap profiler, one sample per 512 bytes on average, started after the warm-up); `heap=FILE`
 * writes that profile (`.heapprofile`, for DevTools) and prints its top allocating functions.
 * `prof=FILE` writes a CPU profile of the measured replies only (no start-up, no warm-up).
 * `store=DIR` gives the bot the documented default store, `storePath` (SQLite, which turns
 * encryption on; the rooms stay unencrypted), in DIR (emptied first), with a scripted answer to
 * each crypto start request; cross-signing is off, so no recovery key is needed. Pings start once
 * `start()` has resolved, so the crypto set-up is not among the measured replies.
 * Imports `src/` through tsx by default; `dist=1` imports the built `dist/` instead (as users run it).
 */
import { readFileSync } from "node:fs";
import type { FetchLike } from "../src/api/http.js";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
const REPLIES = Number(args.replies ?? 3000);
const ROOMS = Number(args.rooms ?? 200);
const CHATTER = Number(args.chatter ?? 3);
const USER = "@bot:localhost";
const HUMAN = "@human:localhost";
const { NioBot } = (args.dist === "1" ? await import("../dist/index.js") : await import("../src/index.js")) as typeof import("../src/index.js");

const roomId = (i: number): string => `!room${i}:localhost`;
let seq = 0;
const event = (room: string, sender: string, content: Record<string, unknown>) => ({
  type: "m.room.message", event_id: `$e${++seq}:localhost`, room_id: room, sender, origin_server_ts: Date.now(),
  unsigned: { age: 12 }, content,
});
const member = (room: string, user: string) => ({
  type: "m.room.member", state_key: user, event_id: `$m${++seq}:localhost`, room_id: room, sender: user, origin_server_ts: 0, content: { membership: "join", displayname: user.slice(1, 6) },
});
const initial = {
  next_batch: "s0",
  rooms: {
    join: Object.fromEntries(Array.from({ length: ROOMS }, (_, i) => [roomId(i), {
      summary: { "m.joined_member_count": 2, "m.invited_member_count": 0 },
      state: { events: [
        { type: "m.room.create", state_key: "", event_id: `$c${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { room_version: "10", creator: HUMAN } },
        { type: "m.room.power_levels", state_key: "", event_id: `$p${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { users: { [HUMAN]: 100 } } },
        member(roomId(i), HUMAN),
      ] },
      timeline: { events: [member(roomId(i), USER)], limited: false, prev_batch: "p0" },
      account_data: { events: [] },
      ephemeral: { events: [] },
      unread_notifications: { highlight_count: 0, notification_count: 0 },
    }])),
  },
  account_data: { events: [] },
  device_one_time_keys_count: { signed_curve25519: 0 },
};

/** `count=1`: promises and timers created since the warm-up ended. */
const counts = { promises: 0, timers: 0, controllers: 0 };
let counting = false;
if (args.count === "1") {
  const { createHook } = await import("node:async_hooks");
  createHook({ init: (_id, type) => void (counting && type === "PROMISE" && counts.promises++) }).enable();
  const { setTimeout: st } = globalThis;
  globalThis.setTimeout = ((...a: Parameters<typeof st>) => (counting && counts.timers++, st(...a))) as typeof st;
  globalThis.AbortController = new Proxy(AbortController, { construct: (target, a) => (counting && counts.controllers++, Reflect.construct(target, a)) });
}

/** `alloc=1`, `heap=FILE`, `prof=FILE`: an inspector session on this thread, started after the warm-up. */
const inspect = args.alloc === "1" || args.heap !== undefined || args.prof !== undefined;
const session = inspect ? new (await import("node:inspector")).Session() : undefined;
session?.connect();
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) => session!.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
function startInspecting(): void {
  if (args.prof !== undefined) void post("Profiler.enable").then(() => post("Profiler.start"));
  if (args.alloc === "1" || args.heap !== undefined)
    void post("HeapProfiler.startSampling", { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}

let batches = 0;
let replies = 0;
let lastReply: { room: string; body: Record<string, unknown> } | undefined;
let done!: () => void;
/** The first replies warm the JIT up; measuring starts after them. */
const WARM = Math.max(1, Math.min(200, Math.floor(REPLIES / 10)));
let mark: { cpu: NodeJS.CpuUsage; t: number } | undefined;
const finished = new Promise<void>((resolve) => (done = resolve));
const encoder = new TextEncoder();
const json = (value: unknown): Response => new Response(encoder.encode(JSON.stringify(value)), { status: 200, headers: { "content-type": "application/json" } });

/** The next incremental sync: a ping, the echo of the last reply, and chatter. */
function nextBatch(): unknown {
  const room = roomId(batches % ROOMS);
  const events = [];
  if (lastReply) events.push({ room: lastReply.room, e: event(lastReply.room, USER, lastReply.body) });
  for (let i = 0; i < CHATTER; i++) {
    const r = roomId((batches * 7 + i) % ROOMS);
    events.push({ room: r, e: event(r, HUMAN, { msgtype: "m.text", body: `just talking about ping number ${batches}, nothing for the bot`, "m.mentions": {} }) });
  }
  events.push({ room, e: event(room, HUMAN, { msgtype: "m.text", body: "!ping", "m.mentions": {} }) });
  lastReply = undefined;
  const join: Record<string, { timeline: { events: unknown[]; limited: boolean; prev_batch: string }; state: { events: never[] }; account_data: { events: never[] }; ephemeral: { events: never[] }; unread_notifications: object }> = {};
  for (const { room: r, e } of events) {
    join[r] ??= { timeline: { events: [], limited: false, prev_batch: `p${batches}` }, state: { events: [] }, account_data: { events: [] }, ephemeral: { events: [] }, unread_notifications: { highlight_count: 0, notification_count: 1 } };
    join[r].timeline.events.push(e);
  }
  batches++;
  return { next_batch: `s${batches}`, rooms: { join }, account_data: { events: [] }, device_one_time_keys_count: { signed_curve25519: 0 } };
}

let waiting: (() => void) | undefined;
/** Pings start once `start()` has resolved: with a store, the crypto set-up is not in the measured replies. */
let markStarted!: () => void;
const started = new Promise<void>((resolve) => (markStarted = resolve));
const fetchScripted: FetchLike = async (input, init) => {
  const url = new URL(input);
  if (url.pathname.endsWith("/account/whoami")) return json({ user_id: USER, device_id: "BENCH" });
  if (url.pathname.endsWith("/sync")) {
    if (!url.searchParams.has("since")) return json(initial);
    await started;
    // One ping in flight at a time, like a user waiting for the answer before the next ping.
    if (batches > replies) await new Promise<void>((resolve) => (waiting = resolve));
    if (batches >= REPLIES) return new Promise<Response>(() => undefined);
    return json(nextBatch());
  }
  const send = /\/rooms\/([^/]+)\/send\/m\.room\.message\//.exec(url.pathname);
  if (send && init.method === "PUT") {
    replies++;
    if (replies === WARM) {
      counting = args.count === "1";
      if (inspect) startInspecting();
      mark = { cpu: process.cpuUsage(), t: performance.now() };
    }
    lastReply = { room: decodeURIComponent(send[1] as string), body: JSON.parse(String(init.body)) as Record<string, unknown> };
    waiting?.();
    waiting = undefined;
    if (replies >= REPLIES) {
      counting = false;
      done();
    }
    return json({ event_id: `$reply${replies}:localhost` });
  }
  // `store=DIR`: the crypto machine's start requests (its key upload, its own keys, no backup).
  if (url.pathname.endsWith("/keys/upload")) {
    const body = JSON.parse(String(init.body ?? "{}")) as { one_time_keys?: Record<string, unknown> };
    uploadedKeys += Object.keys(body.one_time_keys ?? {}).length;
    return json({ one_time_key_counts: { signed_curve25519: uploadedKeys } });
  }
  if (url.pathname.endsWith("/keys/query")) return json({ device_keys: {}, failures: {} });
  if (args.store !== undefined && !url.pathname.includes("/room_keys/")) console.error(`hotpath: unscripted ${init.method} ${url.pathname}`);
  return new Response(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: url.pathname }), { status: 404 });
};
let uploadedKeys = 0;

/** The in-process floor: what `bots/floor.mjs` does, against the same scripted homeserver. */
async function floor(): Promise<void> {
  const headers = { authorization: "Bearer syt_bench", "content-type": "application/json" };
  const filter = JSON.stringify({ presence: { not_types: ["*"] }, room: { state: { lazy_load_members: true }, timeline: { limit: 50, lazy_load_members: true }, ephemeral: { not_types: ["*"] } } });
  let since: string | undefined;
  let txn = 0;
  for (;;) {
    const q = new URLSearchParams({ filter, timeout: since ? "30000" : "0", ...(since ? { since } : {}) });
    const sync = (await (await fetchScripted(`http://localhost:1/_matrix/client/v3/sync?${q}`, { headers })).json()) as { next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: { type: string; sender: string; event_id: string; content?: { body?: unknown } }[] } }> } };
    if (since)
      for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {}))
        for (const e of room.timeline?.events ?? [])
          if (e.type === "m.room.message" && e.sender !== USER && e.content?.body === "!ping") {
            const content = { msgtype: "m.notice", body: "pong", "m.relates_to": { "m.in_reply_to": { event_id: e.event_id } } };
            await fetchScripted(`http://localhost:1/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/f-${txn++}`, { method: "PUT", headers, body: JSON.stringify(content) });
          }
    since = sync.next_batch;
  }
}

let stop = async (): Promise<void> => undefined;
if (args.bot === "floor") {
  markStarted();
  void floor();
} else {
  let storePath: string | undefined;
  if (args.store !== undefined) {
    const { rmSync, mkdirSync } = await import("node:fs");
    rmSync(args.store, { recursive: true, force: true });
    mkdirSync(args.store, { recursive: true });
    storePath = `${args.store}/bot.db`;
  }
  const bot = new NioBot({ homeserver: "http://localhost:1", userId: USER, fetch: fetchScripted, handleSignals: false, storePath, crossSigning: storePath ? false : undefined });
  bot.command("ping", async (ctx) => {
    await ctx.respond("pong");
  });
  await bot.start({ accessToken: "syt_bench" });
  markStarted();
  stop = () => bot.stop();
}
await finished;
const cpu = process.cpuUsage(mark?.cpu);
type HeapNode = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: HeapNode[] };
const heapProfile = args.alloc === "1" || args.heap !== undefined ? ((await post("HeapProfiler.stopSampling")) as { profile: { head: HeapNode } }).profile : undefined;
if (args.prof !== undefined) {
  const { profile } = (await post("Profiler.stop")) as { profile: unknown };
  (await import("node:fs")).writeFileSync(args.prof, JSON.stringify(profile));
}
const wall = performance.now() - (mark?.t ?? 0);
const n = replies - WARM;
const us = (cpu.user + cpu.system) / n;
// Memory as the bench reports it: peak RSS (VmHWM) and, with --expose-gc, the heap after a full GC.
const peakMB = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024;
(globalThis as { gc?: () => void }).gc?.();
const heapMB = process.memoryUsage().heapUsed / 2 ** 20;
console.log(`${args.bot ?? "niobot"}: ${n} replies, ${ROOMS} rooms, ${CHATTER} other messages per ping: CPU ${us.toFixed(0)} µs/reply (${(us / (CHATTER + 2)).toFixed(0)} µs/event), wall ${(wall / n).toFixed(2)} ms/reply; peak RSS ${peakMB.toFixed(0)} MB, heap ${heapMB.toFixed(1)} MB`);
if (args.count === "1") console.log(`per reply: ${(counts.promises / n).toFixed(1)} promises, ${(counts.timers / n).toFixed(2)} timers, ${(counts.controllers / n).toFixed(2)} abort controllers`);
if (heapProfile) {
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode): void => {
    total += node.selfSize;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|dist|src|bench)\//, "$1/")}:${lineNumber + 1}`;
    if (node.selfSize) byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(heapProfile.head);
  console.log(`per reply: ${(total / n / 1024).toFixed(1)} KB allocated (sampled, garbage included)`);
  if (args.heap !== undefined) {
    (await import("node:fs")).writeFileSync(args.heap, JSON.stringify({ head: heapProfile.head }));
    for (const [key, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top ?? 30)))
      console.log(`${(bytes / n).toFixed(0).padStart(7)} B/reply  ${key}`);
  }
}
await stop();
process.exit(0);
