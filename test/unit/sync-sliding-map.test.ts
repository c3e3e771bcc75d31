/**
 * Simplified sliding sync answers mapped to the `/sync` batch shape, and the stored token read
 * defensively (the requests themselves are tested against Synapse in
 * test/integration/sliding-sync.test.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { SlidingSyncResponse } from "../../src/api/types.js";
import { encodeSlidingToken, isSlidingToken, mapSlidingResponse, parseSlidingToken, streamTokenOf, type SlidingMapContext } from "../../src/sync/sliding-map.js";

const ME = "@bot:x";
const ctx = (over: Partial<SlidingMapContext> = {}): SlidingMapContext => ({
  userId: ME, newConnection: false, replaced: false, fromPos: "5/s10_2_0_1_1_1_1_3_0_1", knownJoined: () => false, ...over,
});
const msg = (id: string, sender = "@u:x") => ({ type: "m.room.message", event_id: id, sender, origin_server_ts: 1, content: { msgtype: "m.text", body: id } });
const member = (userId: string, membership: string, id = `$m-${userId}-${membership}`) =>
  ({ type: "m.room.member", state_key: userId, event_id: id, sender: userId, origin_server_ts: 1, content: { membership } });

describe("mapSlidingResponse", () => {
  test("a joined room: state, timeline, summary, room account data; a room seen for the first time has only its live events as news", () => {
    const body: SlidingSyncResponse = {
      pos: "6/s11",
      rooms: {
        "!a:x": {
          initial: true, num_live: 1, limited: true, prev_batch: "t1-2",
          required_state: [{ ...member(ME, "join"), state_key: ME } as never],
          timeline: [msg("$old"), msg("$new")] as never, joined_count: 2, invited_count: 0, heroes: [{ user_id: "@u:x" }],
        },
        "!b:x": { timeline: [msg("$b1"), msg("$b2")] as never, limited: false },
      },
      extensions: { account_data: { global: [{ type: "m.direct", content: { "@u:x": ["!a:x"] } }], rooms: { "!a:x": [{ type: "m.tag", content: {} }] } } },
    };
    const { response, rooms, roomsWithNews } = mapSlidingResponse(body, ctx());
    const a = response.rooms?.join?.["!a:x"];
    assert.deepEqual(a?.summary, { "m.joined_member_count": 2, "m.invited_member_count": 0, "m.heroes": ["@u:x"] });
    assert.equal(a?.state?.events.length, 1);
    assert.deepEqual(a?.timeline, { events: body.rooms!["!a:x"]!.timeline, limited: true, prev_batch: "t1-2" });
    assert.deepEqual(a?.account_data?.events, [{ type: "m.tag", content: {} }]);
    assert.deepEqual(rooms.get("!a:x"), { history: 1, gapTo: "s10_2_0_1_1_1_1_3_0_1", firstSight: true });
    assert.deepEqual(rooms.get("!b:x"), { history: 0, gapTo: "s10_2_0_1_1_1_1_3_0_1" });
    assert.equal(roomsWithNews, 2);
    assert.deepEqual(response.account_data?.events, body.extensions?.account_data?.global);
  });

  test("a new connection's rooms are history; after a lost position they are news from the last handled event on", () => {
    const body: SlidingSyncResponse = { pos: "1/s3", rooms: { "!a:x": { initial: true, timeline: [msg("$1"), msg("$2")] as never } } };
    assert.deepEqual(mapSlidingResponse(body, ctx({ newConnection: true, fromPos: undefined })).rooms.get("!a:x"), { history: 2, gapTo: undefined, firstSight: true });
    assert.deepEqual(mapSlidingResponse(body, ctx({ newConnection: true, replaced: true, fromPos: undefined })).rooms.get("!a:x"),
      { history: 2, gapTo: undefined, firstSight: true, afterHandled: true });
    assert.equal(mapSlidingResponse(body, ctx({ newConnection: true })).roomsWithNews, 0);
  });

  test("invites, leaves and bans", () => {
    const body: SlidingSyncResponse = {
      pos: "2/s4",
      rooms: {
        "!inv:x": { invite_state: [{ type: "m.room.member", state_key: ME, sender: "@u:x", content: { membership: "invite" } }] },
        "!left:x": { timeline: [member(ME, "join", "$j"), member(ME, "leave", "$l")] as never },
        "!ban:x": { required_state: [member(ME, "ban")] as never },
        "!rejoined:x": { timeline: [member(ME, "leave", "$l2"), member(ME, "join", "$j2")] as never },
      },
    };
    const { response } = mapSlidingResponse(body, ctx());
    assert.deepEqual(Object.keys(response.rooms?.invite ?? {}), ["!inv:x"]);
    assert.deepEqual(Object.keys(response.rooms?.leave ?? {}).sort(), ["!ban:x", "!left:x"]);
    assert.deepEqual(Object.keys(response.rooms?.join ?? {}), ["!rejoined:x"]);
  });

  test("extensions: to-device, device lists, key counts; room account data of a known room without the room", () => {
    const body: SlidingSyncResponse = {
      pos: "3/s5",
      extensions: {
        to_device: { next_batch: "7", events: [{ type: "m.room.encrypted", content: {} }] },
        e2ee: { device_lists: { changed: ["@u:x"], left: [] }, device_one_time_keys_count: { signed_curve25519: 50 }, device_unused_fallback_key_types: ["signed_curve25519"] },
        account_data: { rooms: { "!known:x": [{ type: "m.tag", content: {} }], "!unknown:x": [{ type: "m.tag", content: {} }] } },
      },
    };
    const { response, rooms } = mapSlidingResponse(body, ctx({ knownJoined: (id) => id === "!known:x" }));
    assert.equal(response.to_device?.events.length, 1);
    assert.deepEqual(response.device_lists, { changed: ["@u:x"], left: [] });
    assert.deepEqual(response.device_one_time_keys_count, { signed_curve25519: 50 });
    assert.deepEqual(response.device_unused_fallback_key_types, ["signed_curve25519"]);
    assert.deepEqual(Object.keys(response.rooms?.join ?? {}), ["!known:x"]);
    assert.equal(rooms.get("!known:x")?.history, 0);
  });

  test("hostile shapes never throw", () => {
    fc.assert(fc.property(fc.anything(), fc.anything(), (rooms, extensions) => {
      mapSlidingResponse({ pos: "1/s1", rooms, extensions } as never, ctx());
    }));
  });
});

describe("the stored token", () => {
  test("round trip, and anything else is not a sliding token", () => {
    const token = encodeSlidingToken({ pos: "4/s9_1", toDevice: "12", replaced: true });
    assert.ok(isSlidingToken(token));
    assert.deepEqual(parseSlidingToken(token), { pos: "4/s9_1", toDevice: "12", replaced: true });
    assert.deepEqual(parseSlidingToken(encodeSlidingToken({ pos: "4/s9_1" })), { pos: "4/s9_1", toDevice: undefined, replaced: false });
    for (const bad of [undefined, "s72594_4483_1934", "nbss1:", "nbss1:{", "nbss1:null", 'nbss1:{"pos":5}', 'nbss1:{"pos":""}', `nbss1:{"pos":"${"x".repeat(5000)}"}`])
      assert.equal(parseSlidingToken(bad), undefined, String(bad).slice(0, 40));
    assert.equal(isSlidingToken("s72594_4483"), false);
  });

  test("the stream token inside a Synapse position", () => {
    assert.equal(streamTokenOf("12/s2633508_17_338_6732159_1082514_541479_274711_265584_1"), "s2633508_17_338_6732159_1082514_541479_274711_265584_1");
    assert.equal(streamTokenOf("12/m1~1.2~2.3_4"), undefined);
    assert.equal(streamTokenOf("opaque"), undefined);
    assert.equal(streamTokenOf(undefined), undefined);
  });
});
