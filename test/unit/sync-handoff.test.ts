/**
 * The pure parts of the hand-off from sliding sync to `/sync` (`handoff.ts`): which request
 * serves the next batch, the overlap cleaned from the first `/sync` answer, and which rooms need
 * their state fetched (the requests themselves are tested against Synapse in
 * test/integration/sliding-handoff.test.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { StateEvent } from "../../src/api/events.js";
import type { SyncResponse } from "../../src/api/types.js";
import { dropOverlap, handoffPhase, HANDOFF_TOKEN_FILTER, overlapOf, roomsWithoutState, trackedStateOf } from "../../src/sync/handoff.js";
import { encodeSlidingToken } from "../../src/sync/sliding-map.js";

const ME = "@bot:x";
const sliding = encodeSlidingToken({ pos: "3/s10_2", toDevice: "7" });
const state = (type: string, stateKey = "", content: Record<string, unknown> = {}): StateEvent =>
  ({ type, state_key: stateKey, event_id: `$${type}-${stateKey}`, sender: "@u:x", origin_server_ts: 1, content }) as StateEvent;

describe("handoffPhase", () => {
  test("a first start and a resumed sliding position stay on sliding sync until one long poll was answered", () => {
    assert.equal(handoffPhase(undefined, 0), "sliding");
    assert.equal(handoffPhase(undefined, 5), "sliding", "no position: a new sliding connection first");
    assert.equal(handoffPhase(sliding, 0), "sliding");
    assert.equal(handoffPhase(sliding, 1), "handoff");
  });

  test("a /sync token means incremental /sync, whatever else", () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }).filter((s) => !s.startsWith("nbss1:")), fc.nat(), fc.boolean(), (token, polls, enabled) => handoffPhase(token, polls, enabled) === "sync"));
  });

  test("without the hand-off, a sliding position stays on sliding sync", () => {
    fc.assert(fc.property(fc.nat(), (polls) => handoffPhase(sliding, polls, false) === "sliding"));
  });
});

describe("the overlap of the catch-up and the first /sync answer", () => {
  const catchUp = (): SyncResponse => ({
    next_batch: "s20",
    rooms: { join: { "!j:x": {} }, invite: { "!i:x": { invite_state: { events: [] } } }, leave: { "!l:x": {} } },
  });

  test("invites and leaves the catch-up delivered are dropped; other rooms and joins stay", () => {
    const overlap = overlapOf(catchUp());
    const first: SyncResponse = {
      next_batch: "s21",
      rooms: {
        join: { "!j:x": {}, "!i:x": {} },
        invite: { "!i:x": { invite_state: { events: [] } }, "!i2:x": { invite_state: { events: [] } } },
        leave: { "!l:x": {}, "!l2:x": {} },
      },
    };
    assert.equal(dropOverlap(first, overlap), 2);
    assert.deepEqual(Object.keys(first.rooms!.invite!), ["!i2:x"]);
    assert.deepEqual(Object.keys(first.rooms!.leave!), ["!l2:x"]);
    assert.deepEqual(Object.keys(first.rooms!.join!), ["!j:x", "!i:x"], "a join after the invite is news");
  });

  test("an answer without rooms is left alone", () => {
    const empty: SyncResponse = { next_batch: "s21" };
    assert.equal(dropOverlap(empty, overlapOf(catchUp())), 0);
    assert.deepEqual(empty, { next_batch: "s21" });
  });
});

describe("roomsWithoutState", () => {
  test("rooms not known as joined and sent without their full state need it", () => {
    const response: SyncResponse = {
      next_batch: "s1",
      rooms: {
        join: {
          "!known:x": { timeline: { events: [] } },
          "!old:x": { state: { events: [state("m.room.member", "@u:x")] }, timeline: { events: [] } },
          "!new:x": { state: { events: [state("m.room.create")] } },
          "!newInTimeline:x": { timeline: { events: [state("m.room.create") as never] } },
        },
      },
    };
    assert.deepEqual(roomsWithoutState(response, (roomId) => roomId === "!known:x"), ["!old:x"]);
  });
});

describe("trackedStateOf", () => {
  test("keeps tracked and extra types and only the bot's own membership", () => {
    const events = [
      state("m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2" }),
      state("m.room.member", ME, { membership: "join" }),
      state("m.room.member", "@other:x", { membership: "join" }),
      state("m.room.topic"),
      state("org.example.extra", "k"),
    ];
    const kept = trackedStateOf(events, ME, new Set(["org.example.extra"])).map((e) => `${e.type}|${e.state_key}`);
    assert.deepEqual(kept, ["m.room.encryption|", `m.room.member|${ME}`, "org.example.extra|k"]);
  });
});

test("the token /sync selects no room (Synapse then skips the rooms), no presence, no account data", () => {
  assert.deepEqual(HANDOFF_TOKEN_FILTER.room?.rooms, []);
  assert.deepEqual(HANDOFF_TOKEN_FILTER.presence?.not_types, ["*"]);
  assert.deepEqual(HANDOFF_TOKEN_FILTER.account_data?.not_types, ["*"]);
});
