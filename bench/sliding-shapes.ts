/**
 * `npx tsx bench/sliding-shapes.ts hsdata=DIR [rounds=15]`: what one simplified sliding sync
 * request costs Synapse, by request shape, for the bot of a kept `rooms=N` data set (see
 * README, "A kept data set"). Each shape has a connection of its own (`conn_id`); after its first
 * answer, each round asks every shape once more from its position with `timeout=0` (nothing new:
 * what is measured is the work Synapse does on every long poll before it waits), shapes in a
 * rotating order. Prints the median and the spread of the server's answer time per shape.
 * Synapse runs alone here (no bot): the numbers are wall times of one request at a time.
 * `subs=1` compares niobot's shape, no list, and room subscriptions to the users' rooms only.
 */
import { resolve } from "node:path";
import { readFileSync } from "node:fs";
import { startDevHomeserver } from "../src/devserver/index.js";
import { login } from "./harness/matrix.js";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
if (!args.hsdata) throw new Error("usage: npx tsx bench/sliding-shapes.ts hsdata=DIR [rounds=15]");
const ROUNDS = Number(args.rounds ?? 15);
const kept = JSON.parse(readFileSync(resolve(args.hsdata, "bench-scenarios.json"), "utf8")) as Record<string, { bot: string }>;
const [tag, scenario] = Object.entries(kept).find(([name]) => name.startsWith("rooms"))!;

const TRACKED = ["m.room.power_levels", "m.room.name", "m.room.canonical_alias", "m.room.encryption", "m.room.create", "m.room.tombstone", "m.room.join_rules"];
const niobotState = [...TRACKED.map((t) => [t, ""]), ["m.room.member", "$LAZY"], ["m.room.member", "$ME"]];
const allExtensions = { account_data: { enabled: true }, to_device: { enabled: true }, e2ee: { enabled: true } };
const list = (end: number, extra: Record<string, unknown> = {}) => ({ rooms: { ranges: [[0, end]], required_state: niobotState, timeline_limit: 10, ...extra } });

/** The shapes compared: niobot's own first, then one change each. */
const shapes: Record<string, Record<string, unknown>> = {
  "niobot (window 32, e2ee)": { lists: list(31), extensions: allExtensions },
  "no to_device/e2ee": { lists: list(31), extensions: { account_data: { enabled: true } } },
  "no extensions": { lists: list(31) },
  "window 1": { lists: list(0), extensions: allExtensions },
  "timeline 1, no state": { lists: { rooms: { ranges: [[0, 31]], required_state: [], timeline_limit: 1 } }, extensions: allExtensions },
  "filter is_invite=false": { lists: list(31, { filters: { is_invite: false } }), extensions: allExtensions },
  "extensions only (no list)": { extensions: allExtensions },
};
// `subs=1`: room subscriptions instead of a list (the users' rooms of the data set), which finds no news elsewhere.
const userRooms = Object.values(kept).flatMap((k) => (k as { users?: { roomId: string }[] }).users ?? []).map((u) => u.roomId);
if (args.subs === "1") {
  for (const name of Object.keys(shapes)) if (name !== "niobot (window 32, e2ee)" && name !== "extensions only (no list)") delete shapes[name];
  const subscription = { required_state: niobotState, timeline_limit: 10 };
  shapes["subscriptions (users' rooms)"] = { room_subscriptions: Object.fromEntries(userRooms.map((r) => [r, subscription])), extensions: allExtensions };
}

const hs = await startDevHomeserver({ dataDir: resolve(args.hsdata), keepData: true, onProgress: (m) => console.error(`# ${m}`) });
try {
  const { client } = await login(hs.baseUrl, scenario.bot, "bench-password");
  const token = client.accessToken;
  const pos = new Map<string, string>();
  const times = new Map<string, number[]>();
  const ask = async (name: string): Promise<number> => {
    const q = pos.has(name) ? `?timeout=0&pos=${encodeURIComponent(pos.get(name)!)}` : "?timeout=0";
    const started = performance.now();
    const res = await fetch(`${hs.baseUrl}/_matrix/client/unstable/org.matrix.simplified_msc3575/sync${q}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ conn_id: `probe-${[...Object.keys(shapes)].indexOf(name)}`, ...shapes[name] }),
    });
    const body = (await res.json()) as { pos?: string; errcode?: string };
    const ms = performance.now() - started;
    if (!res.ok || !body.pos) throw new Error(`${name}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    pos.set(name, body.pos);
    return ms;
  };
  const names = Object.keys(shapes);
  for (const name of names) console.error(`# ${name}: first answer ${(await ask(name)).toFixed(0)} ms`);
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      const ms = await ask(name);
      if (!times.has(name)) times.set(name, []);
      times.get(name)!.push(ms);
    }
  console.log(`${tag}: ${ROUNDS} requests per shape with a position and timeout=0, ms (median, min-max)`);
  for (const name of names) {
    const t = times.get(name)!.sort((a, b) => a - b);
    console.log(`${name.padEnd(28)} ${t[Math.floor(t.length / 2)]!.toFixed(0).padStart(6)}  ${t[0]!.toFixed(0)}-${t[t.length - 1]!.toFixed(0)}`);
  }
} finally {
  await hs.stop();
}
