/**
 * `node --expose-gc --import tsx bench/inflight.ts [held=20] [rooms=200] [transport=script|node|fetch] [snapshot=FILE]`:
 * what niobot keeps alive per reply that is on its way (the send not answered yet), the state a
 * young-generation collection finds live at 20 users. One batch carries `held` pings in as many
 * rooms, and every send is held open until measured. Prints the heap after a full GC before the
 * batch, with the sends held, and after they are answered and the echoes synced.
 *
 * The homeserver is scripted. With `transport=script` (the default) it is an injected `fetch`, so
 * only niobot's own frames are counted. With `transport=node` it is a local HTTP server in a worker
 * thread (its own heap, not counted) and the bot uses its default transport; `transport=fetch` is
 * the same server with the global `fetch` (undici) injected, the transport before `node:http`.
 */
import { createServer } from "node:http";
import { writeHeapSnapshot } from "node:v8";
import { fork } from "node:child_process";
import type { FetchLike } from "../src/api/http.js";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
/** This process is the homeserver of `transport=node|fetch`, forked by the bot's process. */
const isServer = process.env.INFLIGHT_SERVER === "1";
const HELD = Number(args.held ?? 20);
const ROOMS = Math.max(HELD, Number(args.rooms ?? 200));
const USER = "@bot:localhost";
const HUMAN = "@human:localhost";

const roomId = (i: number): string => `!room${i}:localhost`;
let seq = 0;
const message = (room: string, sender: string, content: Record<string, unknown>) => ({
  type: "m.room.message", event_id: `$e${++seq}:localhost`, room_id: room, sender, origin_server_ts: Date.now(), unsigned: { age: 12 }, content,
});
const initial = () => ({
  next_batch: "s0",
  rooms: { join: Object.fromEntries(Array.from({ length: ROOMS }, (_, i) => [roomId(i), {
    summary: { "m.joined_member_count": 2, "m.invited_member_count": 0 },
    state: { events: [
      { type: "m.room.create", state_key: "", event_id: `$c${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { room_version: "10", creator: HUMAN } },
      { type: "m.room.member", state_key: HUMAN, event_id: `$h${i}`, room_id: roomId(i), sender: HUMAN, origin_server_ts: 0, content: { membership: "join" } },
    ] },
    timeline: { events: [{ type: "m.room.member", state_key: USER, event_id: `$b${i}`, room_id: roomId(i), sender: USER, origin_server_ts: 0, content: { membership: "join" } }], limited: false, prev_batch: "p0" },
  }])) },
});
const batch = (n: number, events: { room: string; e: unknown }[]): unknown => {
  const join: Record<string, { timeline: { events: unknown[]; limited: boolean } }> = {};
  for (const { room, e } of events) (join[room] ??= { timeline: { events: [], limited: false } }).timeline.events.push(e);
  return { next_batch: `s${n}`, rooms: { join } };
};

/** The scripted homeserver: a round is pings, held sends, echoes, then an idle long poll. */
class Script {
  n = 0;
  release!: () => void;
  released!: Promise<void>;
  sent: { room: string; body: unknown; id: string }[] = [];
  allSent!: () => void;
  sendsHeld!: Promise<void>;
  echoed!: () => void;
  echoesSynced!: Promise<void>;
  startPoll!: () => void;
  nextPoll!: Promise<void>;
  phase: "idle" | "pings" | "echoes" = "idle";
  endIdle: () => void = () => undefined;
  idleEnds: Promise<void> = Promise.resolve();

  arm(): void {
    this.released = new Promise<void>((resolve) => (this.release = resolve));
    this.sendsHeld = new Promise<void>((resolve) => (this.allSent = resolve));
    this.echoesSynced = new Promise<void>((resolve) => (this.echoed = resolve));
    this.nextPoll = new Promise<void>((resolve) => (this.startPoll = resolve));
    this.sent = [];
    this.phase = "pings";
  }

  /** The answer to one request; `aborted` resolves when the client gives it up. */
  async answer(url: URL, method: string, body: string, aborted: Promise<void>): Promise<{ status: number; json: unknown }> {
    const ok = (json: unknown) => ({ status: 200, json });
    if (url.pathname.endsWith("/account/whoami")) return ok({ user_id: USER, device_id: "BENCH" });
    if (url.pathname.endsWith("/sync")) {
      if (!url.searchParams.has("since")) return ok(initial());
      if (this.phase === "pings") {
        await this.nextPoll;
        this.phase = "echoes";
        return ok(batch(++this.n, Array.from({ length: HELD }, (_, i) => ({ room: roomId(i), e: message(roomId(i), HUMAN, { msgtype: "m.text", body: "!ping", "m.mentions": {} }) }))));
      }
      if (this.phase === "echoes") {
        await this.released;
        this.phase = "idle";
        this.idleEnds = new Promise<void>((resolve) => (this.endIdle = resolve));
        return ok(batch(++this.n, this.sent.map((s) => ({ room: s.room, e: { ...message(s.room, USER, s.body as Record<string, unknown>), event_id: s.id } }))));
      }
      this.echoed();
      await Promise.race([aborted, this.idleEnds]);
      return ok(batch(++this.n, []));
    }
    const send = /\/rooms\/([^/]+)\/send\/m\.room\.message\//.exec(url.pathname);
    if (send && method === "PUT") {
      const id = `$reply${this.n}-${this.sent.length}:localhost`;
      this.sent.push({ room: decodeURIComponent(send[1] as string), body: JSON.parse(body), id });
      if (this.sent.length === HELD) this.allSent();
      await this.released;
      return ok({ event_id: id });
    }
    return { status: 404, json: { errcode: "M_UNRECOGNIZED", error: url.pathname } };
  }
}

type Command = "arm" | "startPoll" | "endIdle" | "release";

if (isServer) {
  // The homeserver of `transport=node|fetch`, in a process of its own (its heap is not counted).
  const script = new Script();
  script.arm();
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    const aborted = new Promise<void>((resolve) => res.on("close", () => resolve()));
    req.on("end", () => {
      void script.answer(new URL(req.url ?? "/", "http://localhost"), req.method ?? "GET", body, aborted).then(({ status, json }) => {
        if (res.destroyed) return;
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      });
    });
  });
  const announce = (): void => {
    void script.sendsHeld.then(() => process.send!("sendsHeld"));
    void script.echoesSynced.then(() => process.send!("echoesSynced"));
  };
  announce();
  process.on("message", (command: Command) => {
    if (command === "arm") {
      script.arm();
      announce();
    } else script[command]();
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on("disconnect", () => process.exit(0));
} else {
  const { NioBot } = (args.dist === "1" ? await import("../dist/index.js") : await import("../src/index.js")) as typeof import("../src/index.js");
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const heap = (): number => (gc(), gc(), process.memoryUsage().heapUsed);
  const mode = args.transport ?? "script";

  /** The rounds' control: over the server process's IPC channel, or the script itself in this process. */
  let control: (command: Command) => void;
  let sendsHeld: () => Promise<void>;
  let echoesSynced: () => Promise<void>;
  let homeserver = "http://localhost:1";
  let fetchImpl: FetchLike | undefined;
  if (mode === "script") {
    const script = new Script();
    script.arm();
    control = (command) => (command === "arm" ? script.arm() : script[command]());
    sendsHeld = () => script.sendsHeld;
    echoesSynced = () => script.echoesSynced;
    fetchImpl = async (input, init) => {
      const aborted = new Promise<void>((resolve) => init.signal?.addEventListener("abort", () => resolve()));
      const { status, json } = await script.answer(new URL(input), init.method ?? "GET", String(init.body ?? ""), aborted);
      if (init.signal?.aborted) throw init.signal.reason;
      return new Response(JSON.stringify(json), { status, headers: { "content-type": "application/json" } });
    };
  } else {
    const worker = fork(new URL(import.meta.url), process.argv.slice(2), { env: { ...process.env, INFLIGHT_SERVER: "1" }, execArgv: ["--import", "tsx"] });
    const waiting = new Map<string, () => void>();
    const next = (event: string) => new Promise<void>((resolve) => waiting.set(event, resolve));
    let held = next("sendsHeld");
    let synced = next("echoesSynced");
    const port = await new Promise<number>((resolve) =>
      worker.on("message", (m: string | { port: number }) => (typeof m === "string" ? waiting.get(m)?.() : resolve(m.port))),
    );
    control = (command) => {
      if (command === "arm") {
        held = next("sendsHeld");
        synced = next("echoesSynced");
      }
      worker.send(command);
    };
    sendsHeld = () => held;
    echoesSynced = () => synced;
    homeserver = `http://127.0.0.1:${port}`;
    fetchImpl = mode === "fetch" ? (input, init) => fetch(input, init) : undefined;
    worker.unref();
    worker.channel?.unref();
  }

  const bot = new NioBot({ homeserver, userId: USER, fetch: fetchImpl, handleSignals: false, logger: undefined, maxConcurrentHandlers: Math.max(32, HELD) });
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
    control("startPoll");
    control("endIdle");
    await sendsHeld();
    await new Promise((r) => setTimeout(r, 20));
    const held = heap();
    if (args.snapshot && round === ROUNDS) writeHeapSnapshot(`${args.snapshot}.held.heapsnapshot`);
    control("release");
    await echoesSynced();
    await new Promise((r) => setTimeout(r, 700));
    const after = heap();
    console.log(`${mode} round ${round}: ${HELD} sends held, ${ROOMS} rooms: heap ${(before / 2 ** 20).toFixed(2)} MB before; +${kb(held - before)} KB held (${kb((held - before) / HELD)} KB per reply in flight); +${kb(after - before)} KB after the echoes (${kb((after - before) / HELD)} KB per handled ping)`);
    control("arm");
    // the idle long poll of this round ends when the next round's pings are due
  }
  await bot.stop();
}
