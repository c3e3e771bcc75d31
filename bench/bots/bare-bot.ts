/**
 * The baseline: the least a bot can do — fetch, long-poll sync with the same
 * filter, answer `!ping` with one PUT. No framework, no store, no retries.
 */
import { countedFetch, serveReports } from "./counters.js";

serveReports();
const hs = process.env.BENCH_HS ?? "";
const user = process.env.BENCH_USER ?? "";
const headers = { authorization: `Bearer ${process.env.BENCH_TOKEN ?? ""}`, "content-type": "application/json" };
const filter = JSON.stringify({ presence: { not_types: ["*"] }, room: { state: { lazy_load_members: true }, timeline: { limit: 50, lazy_load_members: true }, ephemeral: { not_types: ["*"] } } });
let since: string | undefined;
let txn = 0;
type Sync = { next_batch: string; rooms?: { join?: Record<string, { timeline?: { events: { type: string; sender: string; content: { body?: unknown } }[] } }> } };
for (let first = true; ; first = false) {
  const q = new URLSearchParams({ filter, timeout: first ? "0" : "30000", ...(since ? { since } : {}) });
  const res = await countedFetch(`${hs}/_matrix/client/v3/sync?${q}`, { method: "GET", headers });
  const sync = (await res.json()) as Sync;
  if (!first)
    for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {}))
      for (const e of room.timeline?.events ?? [])
        if (e.type === "m.room.message" && e.sender !== user && e.content.body === "!ping")
          await countedFetch(`${hs}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/b${txn++}`, {
            method: "PUT", headers, body: JSON.stringify({ msgtype: "m.notice", body: "pong" }),
          });
  since = sync.next_batch;
  if (first) process.send?.("ready");
}
