import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { Membership } from "../../src/api/events.js";
import {
  candidateOrder,
  findOrphanDm,
  fingerprintOf,
  localVerdict,
  membersVerdict,
  snapshotOf,
  type DmSnapshot,
} from "../../src/dm/verdict.js";
import { isUserId } from "../../src/ids/grammar.js";
import { RoomTracker } from "../../src/sync/tracker.js";

const BOT = "@bot:example.org";
const USER = "@alice:other.example";

const kind = (s: DmSnapshot): string => localVerdict(s).kind;

describe("localVerdict", () => {
  test("valid only with the bot joined and the user the one other joined or invited member", () => {
    assert.equal(kind({ botMembership: "join", userMembership: "invite", joined: 1, invited: 1 }), "valid");
    assert.equal(kind({ botMembership: "join", userMembership: "join", joined: 2, invited: 0 }), "valid");
  });

  test("definitely invalid: bot not joined, or not exactly two members", () => {
    for (const bot of [undefined, "invite", "leave", "ban"] as const)
      assert.equal(kind({ botMembership: bot, userMembership: "join", joined: 2, invited: 0 }), "invalid");
    assert.equal(kind({ botMembership: "join", userMembership: "leave", joined: 1, invited: 0 }), "invalid", "user left");
    assert.equal(kind({ botMembership: "join", userMembership: "join", joined: 3, invited: 0 }), "invalid", "third member");
    assert.equal(kind({ botMembership: "join", userMembership: "join", joined: 2, invited: 1 }), "invalid", "third invited");
    assert.equal(kind({ botMembership: "join", userMembership: undefined, joined: 1, invited: 0 }), "invalid", "alone");
  });

  test("unknown whenever local state cannot tell, never invalid", () => {
    assert.equal(kind({ botMembership: "join", userMembership: "join" }), "unknown", "no counts");
    assert.equal(kind({ botMembership: "join", userMembership: undefined, joined: 2, invited: 0 }), "unknown", "member not loaded");
    assert.equal(kind({ botMembership: "join", userMembership: "leave", joined: 2, invited: 0 }), "unknown", "someone else, or a re-join not seen");
    assert.equal(kind({ botMembership: "join", userMembership: "invite", joined: 2, invited: 0 }), "unknown", "stale member event");
    assert.equal(kind({ botMembership: "join", userMembership: "join", joined: 1, invited: 1 }), "unknown", "stale member event");
    assert.equal(kind({ botMembership: "join", userMembership: "join", joined: 0, invited: 2 }), "unknown", "counts disagree");
  });

  test("a tombstone is reported with its replacement", () => {
    assert.deepEqual(localVerdict({ botMembership: "join", userMembership: "join", joined: 2, invited: 0, replacementRoom: "!new:x" }), {
      kind: "tombstoned",
      replacement: "!new:x",
    });
  });

  test("never valid unless the counts say exactly the bot and one more member", () => {
    const membership = fc.constantFrom<Membership | undefined>("join", "invite", "leave", "ban", "knock", undefined);
    const count = fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined });
    fc.assert(
      fc.property(membership, membership, count, count, (bot, user, joined, invited) => {
        const verdict = localVerdict({ botMembership: bot, userMembership: user, joined, invited });
        if (verdict.kind !== "valid") return;
        assert.equal(bot, "join");
        assert.ok(user === "join" || user === "invite");
        assert.equal((joined ?? 0) + (invited ?? 0), 2);
      }),
    );
  });
});

describe("membersVerdict", () => {
  const m = (userId: string, membership: string) => ({ state_key: userId, content: { membership } });

  test("the server's member list decides", () => {
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "join"), m(USER, "invite")]).kind, "valid");
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "join"), m(USER, "join"), m("@x:y", "ban")]).kind, "valid", "banned don't count");
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "join"), m(USER, "join"), m("@x:y", "invite")]).kind, "invalid");
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "join"), m(USER, "ban")]).kind, "invalid");
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "join")]).kind, "invalid");
    assert.equal(membersVerdict(BOT, USER, [m(BOT, "leave"), m(USER, "join")]).kind, "invalid");
    assert.equal(membersVerdict(BOT, USER, [m(USER, "join"), m("@x:y", "join")]).kind, "invalid", "bot absent");
  });
});

describe("room snapshots", () => {
  function dmRoom() {
    const tracker = new RoomTracker(BOT);
    const room = tracker.ensureRoom("!dm:example.org", "join");
    const member = (userId: string, membership: string) =>
      tracker.applyState(room, { type: "m.room.member", state_key: userId, sender: BOT, content: { membership, is_direct: userId === USER } });
    member(BOT, "join");
    member(USER, "invite");
    tracker.applySummary(room, { "m.joined_member_count": 1, "m.invited_member_count": 1, "m.heroes": [USER] });
    return { tracker, room, member };
  }

  test("snapshotOf reads the bot's and the user's membership, counts and tombstone", () => {
    const { room } = dmRoom();
    assert.deepEqual(snapshotOf(room, USER), { botMembership: "join", userMembership: "invite", joined: 1, invited: 1, replacementRoom: undefined });
    assert.equal(localVerdict(snapshotOf(room, USER)).kind, "valid");
    assert.equal(snapshotOf(undefined, USER).botMembership, undefined);
  });

  test("findOrphanDm finds the bot's own pending direct invite in a valid room only", () => {
    const { tracker, room, member } = dmRoom();
    assert.equal(findOrphanDm(tracker.rooms.values(), BOT, USER), room.roomId);
    assert.equal(findOrphanDm(tracker.rooms.values(), "@other-bot:x", USER), undefined, "invited by someone else");
    assert.equal(findOrphanDm(tracker.rooms.values(), BOT, "@carol:example.org"), undefined);
    member("@carol:example.org", "invite");
    tracker.applySummary(room, { "m.invited_member_count": 2 });
    assert.equal(findOrphanDm(tracker.rooms.values(), BOT, USER), undefined, "no longer one-to-one");
  });

  test("the fingerprint changes with every membership change, count or tombstone", () => {
    const { tracker, room, member } = dmRoom();
    const seen = new Set([fingerprintOf(room)]);
    member(USER, "join");
    seen.add(fingerprintOf(room));
    tracker.applySummary(room, { "m.joined_member_count": 2, "m.invited_member_count": 0 });
    seen.add(fingerprintOf(room));
    member("@carol:example.org", "invite");
    seen.add(fingerprintOf(room));
    tracker.applyState(room, { type: "m.room.tombstone", state_key: "", sender: USER, content: { body: "", replacement_room: "!n:x" } });
    seen.add(fingerprintOf(room));
    assert.equal(seen.size, 5);
    assert.equal(fingerprintOf(room), fingerprintOf(room), "stable while nothing changes");
  });
});

describe("helpers", () => {
  test("candidates are tried newest first", () => {
    assert.deepEqual(candidateOrder(["!old:x", "!mid:x", "!new:x"]), ["!new:x", "!mid:x", "!old:x"]);
  });

  test("isUserId accepts any server, rejects room ids and junk", () => {
    for (const id of ["@a:b", "@alice:matrix.org", "@bob:example.org:8448", "@x:[::1]:8448"]) assert.ok(isUserId(id), id);
    for (const id of ["!room:x", "@nocolon", "@:x", "alice:x", "@a b:x", "@a:"]) assert.ok(!isUserId(id), id);
  });
});
