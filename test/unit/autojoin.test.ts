/**
 * The inviter behind an auto-join decision comes from the invite event itself, never from
 * whatever member event for the bot the inviting server put first in `invite_state`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { autoJoinAllowed } from "../../src/bot/autojoin.js";
import { findOwnInvite } from "../../src/sync/invite.js";

const BOT = "@bot:x.org";
const BOSS = "@boss:x.org";
const EVIL = "@evil:evil.example";
const policy = { users: [BOSS] };

const member = (stateKey: string, sender: string, membership: unknown) => ({ type: "m.room.member", state_key: stateKey, sender, content: { membership } });
/** The sender of `e` when it is a well-formed invite for `userId` (the test's own reading of the rule). */
const inviteSenderFor = (userId: string) => (e: unknown): string | undefined => {
  if (typeof e !== "object" || e === null) return undefined;
  const { type, state_key, sender, content } = e as Record<string, unknown>;
  const membership = typeof content === "object" && content !== null ? (content as Record<string, unknown>).membership : undefined;
  return type === "m.room.member" && state_key === userId && membership === "invite" && typeof sender === "string" && sender.startsWith("@") ? sender : undefined;
};
const stateOf = (type: string) => ({ type, state_key: "", sender: EVIL, content: {} });

describe("findOwnInvite", () => {
  test("a forged member event for the bot placed before the real invite does not pick the inviter", () => {
    const events = [stateOf("m.room.create"), member(BOT, BOSS, "join"), member(BOSS, BOSS, "join"), member(BOT, EVIL, "invite")];
    const { invite } = findOwnInvite(events, BOT);
    assert.equal(invite?.sender, EVIL);
    assert.equal(autoJoinAllowed(policy, invite?.sender), false);
  });

  test("invite events for the bot from different senders: nobody is trusted", () => {
    const found = findOwnInvite([member(BOT, BOSS, "invite"), stateOf("m.room.name"), member(BOT, EVIL, "invite")], BOT);
    const inviter = found.invite?.sender;
    assert.equal(inviter, undefined);
    assert.match(found.problem ?? "", /different senders/);
    assert.equal(autoJoinAllowed(policy, inviter), false);
  });

  test("the genuine invite is found, last one winning among agreeing duplicates", () => {
    const real = { ...member(BOT, BOSS, "invite"), content: { membership: "invite", is_direct: true } };
    const found = findOwnInvite([stateOf("m.room.create"), member(BOT, BOSS, "invite"), real], BOT);
    assert.equal(found.invite, real);
    assert.equal(found.problem, undefined);
    assert.equal(autoJoinAllowed(policy, found.invite?.sender), true);
  });

  test("missing or malformed invites give no inviter, with a reason", () => {
    const cases: unknown[][] = [
      [],
      [stateOf("m.room.create"), member(BOSS, BOSS, "join")],
      [member(BOT, BOSS, "join")],
      [member(BOT, BOSS, undefined)],
      [{ type: "m.room.member", state_key: BOT, sender: BOSS, content: null }],
      [{ type: "m.room.member", state_key: BOT, sender: BOSS }],
      [{ type: "m.room.member", state_key: BOT, sender: 42, content: { membership: "invite" } }],
      [member(BOT, "", "invite")],
      [member(BOT, "boss", "invite")],
      [null, 7, "x", [], member(BOT, BOSS, "leave")],
    ];
    for (const events of cases) {
      const found = findOwnInvite(events, BOT);
      assert.equal(found.invite, undefined, JSON.stringify(events));
      assert.ok(typeof found.problem === "string" && found.problem.length > 0);
    }
    // Malformed entries around a genuine invite are skipped, not fatal.
    assert.equal(findOwnInvite([null, 1, { type: "m.room.member" }, member(BOT, BOSS, "invite")], BOT).invite?.sender, BOSS);
  });

  test("property: a returned invite is an invite for the bot, and every invite event for the bot agrees with it", () => {
    const ids = fc.constantFrom(BOT, BOSS, EVIL, "", "nobody");
    const event = fc.oneof(
      fc.record({ type: fc.constantFrom("m.room.member", "m.room.name"), state_key: ids, sender: fc.oneof(ids, fc.integer()), content: fc.oneof(fc.constant(null), fc.record({ membership: fc.constantFrom("invite", "join", "leave", undefined) })) }),
      fc.constantFrom(null, 0, "s", [] as unknown[]),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), (events) => {
        const { invite } = findOwnInvite(events, BOT);
        const senders = events.map(inviteSenderFor(BOT)).filter((s) => s !== undefined);
        if (invite === undefined) return new Set(senders).size !== 1;
        return invite.state_key === BOT && senders.length > 0 && senders.every((s) => s === invite.sender);
      }),
      { numRuns: 2000 },
    );
  });
});
