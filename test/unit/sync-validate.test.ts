import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SyncResponse } from "../../src/api/types.js";
import { sanitizeSyncResponse } from "../../src/sync/validate.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const message = (id: string) => ({ type: "m.room.message", event_id: id, sender: "@u:x", origin_server_ts: 1, content: { msgtype: "m.text", body: id } });

describe("sanitizeSyncResponse", () => {
  test("drops null and malformed entries, keeps the rest, and says where", () => {
    const response = {
      next_batch: "s2",
      account_data: { events: [null, { type: "m.direct", content: {} }, { type: 5, content: {} }] },
      rooms: {
        join: {
          "!a:x": {
            timeline: { events: [message("$1"), null, { ...message("$2"), event_id: 7 }, message("$3")], limited: "yes" },
            state: { events: [{ ...message("$4"), state_key: undefined }] },
            account_data: { events: "nope" },
          },
          "!b:x": null,
          "not-a-room": {},
        },
        invite: { "!c:x": { invite_state: { events: [{ type: "m.room.member", state_key: "@bot:x", sender: "@u:x", content: { membership: "invite" } }, []] } } },
        leave: "garbage",
      },
    } as unknown as SyncResponse;
    const report = sanitizeSyncResponse(response);
    assert.deepEqual(response.account_data?.events.map((e) => e.type), ["m.direct"]);
    const joined = response.rooms?.join?.["!a:x"];
    assert.deepEqual(joined?.timeline?.events.map((e) => e.event_id), ["$1", "$3"]);
    assert.equal(joined?.timeline?.limited, undefined);
    assert.deepEqual(joined?.state?.events, []);
    assert.deepEqual(joined?.account_data?.events, []);
    assert.deepEqual(Object.keys(response.rooms?.join ?? {}), ["!a:x"]);
    assert.equal(response.rooms?.invite?.["!c:x"]?.invite_state?.events.length, 1);
    assert.equal(response.rooms?.leave, undefined);
    assert.equal(report.dropped, 11);
    assert.ok(report.paths.includes("account_data.events[0]"));
    assert.ok(report.paths.includes("rooms.join.!a:x.timeline.events[1]"));
    // The first ten, in the order met (paths are built only for what is dropped).
    assert.deepEqual(report.paths, [
      "account_data.events[0]", "account_data.events[2]",
      "rooms.invite.!c:x.invite_state.events[1]",
      "rooms.join.!a:x.state.events[0]", "rooms.join.!a:x.timeline.events[1]", "rooms.join.!a:x.timeline.events[2]",
      "rooms.join.!a:x.timeline.limited", "rooms.join.!a:x.account_data.events", "rooms.join.!b:x", "rooms.join.not-a-room",
    ]);
  });

  test("a well-formed response is left as it is", () => {
    const response: SyncResponse = { next_batch: "s1", account_data: { events: [{ type: "m.direct", content: {} }] }, rooms: { join: { "!a:x": { timeline: { events: [message("$1") as never], limited: false } } } } };
    const before = JSON.stringify(response);
    assert.deepEqual(sanitizeSyncResponse(response), { dropped: 0, paths: [] });
    assert.equal(JSON.stringify(response), before);
  });

  test("a response without next_batch throws: there is no position to move to", () => {
    assert.throws(() => sanitizeSyncResponse({} as SyncResponse), TypeError);
    assert.throws(() => sanitizeSyncResponse(null as unknown as SyncResponse), TypeError);
  });
});

describe("RoomTracker.restoreChanges", () => {
  test("changes a failed write took come back ahead of newer ones", () => {
    const tracker = new RoomTracker("@bot:x");
    tracker.setAccountData("a", { v: 1 });
    const taken = tracker.takeChanges();
    tracker.setAccountData("a", { v: 2 });
    tracker.restoreChanges(taken);
    assert.deepEqual(tracker.takeChanges().map((c) => (c.kind === "accountData" ? c.content : undefined)), [{ v: 1 }, { v: 2 }]);
  });
});
