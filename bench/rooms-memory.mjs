/* global Buffer, console, clearTimeout, process, Response, URL, setTimeout */
/**
 * Memory per room without Synapse: niobot (from dist/, no store, as in
 * bots/niobot.mjs) takes an initial sync of N rooms shaped like Synapse's
 * answer for the bench's rooms (bot-created private rooms: create, member,
 * power levels, join rules, history visibility, guest access in the
 * timeline), served by a scripted fetch. Prints heap after a full GC once the
 * bot is ready, and the peak RSS; `snapshot=FILE` writes a heap snapshot
 * then. Run with --expose-gc: `node --expose-gc bench/rooms-memory.mjs 10000`.
 * `floor` as the second word only reads the same response as the raw floor does (`res.json()`
 * of a `Response` made from the same text, as the scripted fetch serves niobot).
 *
 * The peak RSS of that run includes building the response's text in the same process. For the
 * peak while a socket's body is read, serve the text from another process and fetch it:
 * `node bench/rooms-memory.mjs 10000 serve=8765 &` then
 * `node --expose-gc bench/rooms-memory.mjs 10000 url=http://127.0.0.1:8765/` (or `... floor url=...`).
 */
import { readFileSync } from "node:fs";
import { writeHeapSnapshot } from "node:v8";

const rooms = Number(process.argv[2] ?? 10000);
const floor = process.argv[3] === "floor";
const snapshot = process.argv.find((a) => a.startsWith("snapshot="))?.slice(9);
const serve = process.argv.find((a) => a.startsWith("serve="))?.slice(6);
const syncUrl = process.argv.find((a) => a.startsWith("url="))?.slice(4);
const USER = "@bench-rooms10000-bot:localhost";
const id = (n) => `$${n.toString(36).padStart(8, "0")}${"x".repeat(35)}`;

function room(i) {
  const ev = (k, type, content, stateKey = "") => ({
    content, event_id: id(i * 8 + k), origin_server_ts: 1795980024063 + k, sender: USER, state_key: stateKey, type, unsigned: { age: 44471, membership: "join" },
  });
  return {
    timeline: {
      events: [
        ev(0, "m.room.create", { room_version: "11" }),
        ev(1, "m.room.member", { displayname: "bench-rooms10000-bot", membership: "join" }, USER),
        ev(2, "m.room.power_levels", {
          ban: 50, events: { "m.room.avatar": 50, "m.room.canonical_alias": 50, "m.room.encryption": 100, "m.room.history_visibility": 100, "m.room.name": 50, "m.room.power_levels": 100, "m.room.server_acl": 100, "m.room.tombstone": 100 },
          events_default: 0, historical: 100, invite: 0, kick: 50, redact: 50, state_default: 50, users: { [USER]: 100 }, users_default: 0,
        }),
        ev(3, "m.room.join_rules", { join_rule: "invite" }),
        ev(4, "m.room.history_visibility", { history_visibility: "shared" }),
        ev(5, "m.room.guest_access", { guest_access: "can_join" }),
      ],
      prev_batch: "s2406_2_0_1_1_1_1_4_0_1_1_1_1_1", limited: false,
    },
    state: { events: [] }, account_data: { events: [] }, ephemeral: { events: [] },
    unread_notifications: { notification_count: 0, highlight_count: 0 },
    summary: { "m.joined_member_count": 1, "m.invited_member_count": 0, "m.heroes": [] },
  };
}
const roomId = (i) => `!${i.toString(36).padStart(18, "0")}:localhost`;
function initialSyncText() {
  const join = {};
  for (let i = 0; i < rooms; i++) join[roomId(i)] = room(i);
  return JSON.stringify({ next_batch: "s1", account_data: { events: [] }, device_one_time_keys_count: {}, rooms: { join } });
}

const peak = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024;
function report(what) {
  globalThis.gc();
  const m = process.memoryUsage();
  console.log(JSON.stringify({ what, rooms, heapMB: +(m.heapUsed / 2 ** 20).toFixed(2), rssMB: +(m.rss / 2 ** 20).toFixed(1), peakRssMB: +peak().toFixed(1) }));
}

if (serve) {
  const body = Buffer.from(initialSyncText());
  const { createServer } = await import("node:http");
  createServer((req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body)).listen(Number(serve), "127.0.0.1");
  console.log(JSON.stringify({ serving: body.length, port: Number(serve) }));
  await new Promise(() => {});
}
// The text is built before anything is measured, and dropped after the first answer, as a socket's buffer would be.
let text = syncUrl ? undefined : initialSyncText();
if (!syncUrl) globalThis.gc();
if (floor) {
  const res = syncUrl ? await globalThis.fetch(syncUrl) : new Response(text, { headers: { "content-type": "application/json" } });
  text = undefined;
  const sync = await res.json();
  let n = 0;
  for (const r of Object.values(sync.rooms.join)) n += r.timeline.events.length;
  report(`floor parsed ${n} events`);
  process.exit(0);
}
const { NioBot, consoleLogger } = await import("niobot");
let served = false;
const fetch = async (input, init) => {
  const url = new URL(input);
  const json = (body, status = 200) => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  if (url.pathname.endsWith("/account/whoami")) return json({ user_id: USER, device_id: "BENCH" });
  if (url.pathname.endsWith("/versions")) return json({ versions: ["v1.11"] });
  if (url.pathname.endsWith("/sync")) {
    if (!served) {
      served = true;
      if (syncUrl) return globalThis.fetch(syncUrl, { signal: init?.signal });
      const body = text;
      text = undefined;
      return json(body);
    }
    await new Promise((resolve, reject) => {
      const t = setTimeout(resolve, 30_000);
      init?.signal?.addEventListener("abort", () => { clearTimeout(t); reject(init.signal.reason); }, { once: true });
    });
    return json({ next_batch: "s2" });
  }
  if (url.pathname.includes("/account_data/")) return json({ errcode: "M_NOT_FOUND", error: "none" }, 404);
  if (url.pathname.endsWith("/filter")) return json({ filter_id: "1" });
  return json({});
};
const bot = new NioBot({ homeserver: "http://homeserver.invalid", userId: USER, logger: consoleLogger("warn"), handleSignals: false, fetch });
bot.command("ping", (ctx) => ctx.respond("pong"));
await bot.start({ accessToken: "bench-token" });
await new Promise((r) => setTimeout(r, 200));
if (bot.rooms.rooms.size !== rooms) throw new Error(`${bot.rooms.rooms.size} rooms known, expected ${rooms}`);
report("niobot ready");
if (snapshot) writeHeapSnapshot(snapshot);
await bot.stop();
process.exit(0);
