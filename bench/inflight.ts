/**
 * `node --expose-gc --import tsx bench/inflight.ts [held=20] [rooms=200] [snapshot=FILE]`: what niobot
 * keeps alive per reply that is on its way (the send not answered yet), the state a young-generation
 * collection finds live at 20 users. The homeserver is a scripted `fetch`: one batch carries `held`
 * pings in as many rooms, and every send is held open until measured. Prints the heap after a full
 * GC before the batch, with the sends held, and after they are answered and the echoes synced.
 */
import { writeHeapSnapshot } from "node:v8";
import type { FetchLike } from "../src/api/http.js";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
const HELD = Number(args.held ?? 20);
const ROOMS = Math.max(HELD, Number(args.rooms ?? 200));
const USER = "@bot:localhost";
const HUMAN = "@human:localhost";
const { NioBot } = (args.dist === "1" ? await import("../dist/index.js") : await import("../src/index.js")) as typeof import("../src/index.js");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const heap = (): number => (gc(), gc(), process.memoryUsage().heapUsed);

const roomId = (i: number): string => `!room${i}:localhost`;
let seq = 0;
const message = (room: string, sender: string, content: Record<string, unknown>) => ({
  type: "m.room.message", event_id: `$e${++seq}:localhost`, room_id: room, sender, origin_server_ts: Date.now(), unsigned: { age: 12 }, content,
});
const initial = {
  next_batch: "s0",
  rooms: { join: Object.fromEntries(Array.from({ length: ROOMS }, (_, i) => [roomId(i), {
    summary: { "m.joined_member_count": 2, "m.invited_member_count": 0 },
    state: { events: [
      { type: "m.room.create", state_key: "", event_id: `$c${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { room_version: "10", creator: HUMAN } },
      { type: "m.room.member", state_key: HUMAN, event_id: `$h${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { membership: "join" } },
    ] },
    timeline: { events: [{ type: "m.room.member", state_key: USER, event_id: `$b${i}`, room_id: roomId(i), sender: USER, origin_server_ts: 0, content: { membership: "join" } }], limited: false, prev_batch: "p0" },
  }])) },
};
const json = (value: unknown): Response => new Response(JSON.stringify(value), { status: 200, headers: { "content-type": "application/json" } });
const batch = (n: number, events: { room: string; e: unknown }[]): unknown => {
  const join: Record<string, { timeline: { events: unknown[]; limited: boolean } }> = {};
  for (const { room, e } of events) (join[room] ??= { timeline: { events: [], limited: false } }).timeline.events.push(e);
  return { next_batch: `s${n}`, rooms: { join } };
};

let n = 0;
let release!: () => void;
let released!: Promise<void>;
let sent: { room: string; body: unknown; id: string }[] = [];
let allSent!: () => void;
let sendsHeld!: Promise<void>;
let echoed!: () => void;
let echoesSynced!: Promise<void>;
let startPoll!: () => void;
let nextPoll!: Promise<void>;
let phase: "idle" | "pings" | "echoes" = "idle";
let endIdle: () => void = () => undefined;
let idleEnds: Promise<void> = Promise.resolve();
function arm(): void {
  released = new Promise<void>((resolve) => (release = resolve));
  sendsHeld = new Promise<void>((resolve) => (allSent = resolve));
  echoesSynced = new Promise<void>((resolve) => (echoed = resolve));
  nextPoll = new Promise<void>((resolve) => (startPoll = resolve));
  sent = [];
  phase = "pings";
}
arm();
const fetchScripted: FetchLike = async (input, init) => {
  const url = new URL(input);
  if (url.pathname.endsWith("/account/whoami")) return json({ user_id: USER, device_id: "BENCH" });
  if (url.pathname.endsWith("/sync")) {
    if (!url.searchParams.has("since")) return json(initial);
    if (phase === "pings") {
      await nextPoll;
      phase = "echoes";
      return json(batch(++n, Array.from({ length: HELD }, (_, i) => ({ room: roomId(i), e: message(roomId(i), HUMAN, { msgtype: "m.text", body: "!ping", "m.mentions": {} }) }))));
    }
    if (phase === "echoes") {
      await released;
      phase = "idle";
      idleEnds = new Promise<void>((resolve) => (endIdle = resolve));
      return json(batch(++n, sent.map((s) => ({ room: s.room, e: { ...message(s.room, USER, s.body as Record<string, unknown>), event_id: s.id } }))));
    }
    echoed();
    const aborted = new Promise<void>((resolve) => init.signal?.addEventListener("abort", () => resolve()));
    await Promise.race([aborted, idleEnds]);
    if (init.signal?.aborted) throw init.signal.reason;
    return json(batch(++n, []));
  }
  const send = /\/rooms\/([^/]+)\/send\/m\.room\.message\//.exec(url.pathname);
  if (send && init.method === "PUT") {
    const id = `$reply${n}-${sent.length}:localhost`;
    sent.push({ room: decodeURIComponent(send[1] as string), body: JSON.parse(String(init.body)), id });
    if (sent.length === HELD) allSent();
    await released;
    return json({ event_id: id });
  }
  return new Response(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: url.pathname }), { status: 404 });
};

const bot = new NioBot({ homeserver: "http://localhost:1", userId: USER, fetch: fetchScripted, handleSignals: false, logger: undefined, maxConcurrentHandlers: Math.max(32, HELD) });
bot.command("ping", async (ctx) => {
  await ctx.respond("pong");
});
await bot.start({ accessToken: "syt_bench" });
const kb = (b: number): string => (b / 1024).toFixed(1);
const ROUNDS = Number(args.rounds ?? 3);
for (let round = 1; round <= ROUNDS; round++) {
  await new Promise((r) => setTimeout(r, 50));
  const before = heap();
  if (args.snapshot && round >= ROUNDS - 1) writeHeapSnapshot(`${args.snapshot}.before${round === ROUNDS ? "" : "-prev"}.heapsnapshot`);
  startPoll();
  endIdle();
  await sendsHeld;
  await new Promise((r) => setTimeout(r, 20));
  const held = heap();
  if (args.snapshot && round === ROUNDS) writeHeapSnapshot(`${args.snapshot}.held.heapsnapshot`);
  release();
  await echoesSynced;
  await new Promise((r) => setTimeout(r, 700));
  const after = heap();
  console.log(`round ${round}: ${HELD} sends held, ${ROOMS} rooms: heap ${(before / 2 ** 20).toFixed(2)} MB before; +${kb(held - before)} KB held (${kb((held - before) / HELD)} KB per reply in flight); +${kb(after - before)} KB after the echoes (${kb((after - before) / HELD)} KB per handled ping)`);
  arm();
  // the idle long poll of this round ends when the next round's pings are due
}
await bot.stop();
