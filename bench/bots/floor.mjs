/* global fetch, setTimeout, URLSearchParams */
/**
 * The raw floor: the least a bot can do. fetch, a long-poll /sync loop with
 * niobot's default filter, and one PUT per `!ping`, a reply to it. No
 * framework, no store; the initial sync's timeline is history, not news.
 */
import { benchEnv, serveReports } from "./report.mjs";

serveReports();
const { homeserver, userId, accessToken } = benchEnv();
const headers = { authorization: `Bearer ${accessToken}`, "content-type": "application/json" };
const filter = JSON.stringify({
  presence: { not_types: ["*"] },
  room: { state: { lazy_load_members: true }, timeline: { limit: 50, lazy_load_members: true }, ephemeral: { not_types: ["*"] } },
});
const txnBase = `f${Date.now()}`;
let txn = 0;

async function reply(roomId, event) {
  const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnBase}-${txn++}`;
  const content = { msgtype: "m.notice", body: "pong", "m.relates_to": { "m.in_reply_to": { event_id: event.event_id } } };
  const res = await fetch(`${homeserver}${path}`, { method: "PUT", headers, body: JSON.stringify(content) });
  if (!res.ok) throw new Error(`send answered ${res.status}`);
}

let since;
for (;;) {
  const q = new URLSearchParams({ filter, timeout: since ? "30000" : "0", ...(since ? { since } : {}) });
  let sync;
  try {
    const res = await fetch(`${homeserver}/_matrix/client/v3/sync?${q}`, { headers });
    if (!res.ok) throw new Error(`sync answered ${res.status}`);
    sync = await res.json();
  } catch {
    await new Promise((r) => setTimeout(r, 1000));
    continue;
  }
  if (since)
    for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {}))
      for (const e of room.timeline?.events ?? [])
        if (e.type === "m.room.message" && e.sender !== userId && e.content?.body === "!ping")
          await reply(roomId, e).catch(() => {});
  since = sync.next_batch;
}
