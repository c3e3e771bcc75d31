/**
 * Auto-join allowlist against forged invites (issue 11, finding 10). Over federation, the
 * inviting server fills an invite's stripped state, and Synapse relays it, appending the real
 * invite event. A hostile server can put a member event for the bot "from" an allowlisted user
 * first. With a single Synapse there is no remote server, so the forged events are added to the
 * real `/sync` response in front of the bot (test/helpers/faults.ts, kind "rewrite"); the rooms,
 * the invites and the joins are real.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SyncResponse } from "../../src/api/types.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { faultyFetch } from "../helpers/faults.js";
import { newBot, newTestUser, newUser } from "../helpers/matrix.js";

/** Waits until a captured log line matches. */
async function waitForLine(lines: string[], match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines.find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for a log line; saw:\n${lines.join("")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("auto-join allowlist against forged invite state", { timeout: 90_000 }, () => {
  test("a non-allowlisted inviter is refused even when a forged member event for the bot from an allowlisted user comes first", async () => {
    const boss = await newTestUser("boss");
    const evil = await newTestUser("evil");
    const account = await newUser("bot");
    const forgedFrom = (membership: string) => ({ type: "m.room.member", state_key: account.userId, sender: boss.userId, content: { membership } });

    // The real scenario first: the allowlisted user is a member, a stranger sends the invite.
    const bossPresent = await evil.createRoom();
    await evil.api.rooms.invite(bossPresent, boss.userId);
    await boss.api.rooms.join(bossPresent);
    // And one where only a forged invite "from" the boss disagrees with the real one.
    const conflicting = await evil.createRoom();
    const forged = new Map<string, object[]>([
      [bossPresent, [forgedFrom("join")]],
      [conflicting, [forgedFrom("invite")]],
    ]);
    const faults = faultyFetch([
      {
        method: "GET",
        path: /\/sync$/,
        times: 1_000,
        fault: {
          kind: "rewrite",
          json: (body) => {
            const invites = (body as SyncResponse).rooms?.invite ?? {};
            for (const [roomId, room] of Object.entries(invites)) room.invite_state?.events.unshift(...((forged.get(roomId) ?? []) as never[]));
            return body;
          },
        },
      },
    ]);
    const lines: string[] = [];
    const logger = consoleLogger("debug", { write: (line: string) => void lines.push(line) });
    const { bot } = await newBot({ autoJoin: { users: [boss.userId] }, fetch: faults.fetch, logger }, account);
    await bot.start({ password: account.password });
    try {
      await evil.api.rooms.invite(bossPresent, account.userId);
      await evil.api.rooms.invite(conflicting, account.userId);
      const decided = (roomId: string) => (l: string) => l.includes(roomId) && /not joining|joined room after invite/.test(l);
      for (const roomId of [bossPresent, conflicting]) {
        const line = await waitForLine(lines, decided(roomId));
        assert.match(line, /not joining: inviter not allowed by autoJoin/, `room ${roomId}`);
      }
      assert.ok(lines.some((l) => l.includes(conflicting) && l.includes("invite_state holds invite events from different senders")));

      // A genuine invite from the boss, with the same forged events around it, is still accepted.
      const joined = bot.waitForEvent("join", undefined, 20_000);
      const fromBoss = await boss.createRoom();
      forged.set(fromBoss, [forgedFrom("join"), forgedFrom("invite")]);
      await boss.api.rooms.invite(fromBoss, account.userId);
      assert.equal((await joined)[0].roomId, fromBoss);

      // As the room's members see it, the bot is still only invited where the stranger invited it.
      for (const roomId of [bossPresent, conflicting]) {
        const state = await evil.api.rooms.getState(roomId, "m.room.member", account.userId);
        assert.equal(state.membership, "invite", `room ${roomId}`);
      }
    } finally {
      await bot.stop();
    }
  });
});
