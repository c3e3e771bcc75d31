/**
 * Encryption fails closed, against Synapse (issue 11, findings 2 and 3): the
 * first message into a new encrypted DM is encrypted, and an `m.room.encryption`
 * event with empty content never turns a room back to plaintext, not even
 * after a restart. What went over the wire is read as the other user.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { ClientEvent } from "../../src/api/events.js";
import type { FetchLike } from "../../src/api/http.js";
import { EncryptionStateUnknownError } from "../../src/crypto/errors.js";
import { EncryptedHuman, MEGOLM } from "../helpers/e2ee-human.js";
import { homeserver, newBot, newTestUser, tempStorePath } from "../helpers/matrix.js";

/** Every timeline event of a room from `sender`, as the server gives them to `api`'s user. */
async function wireTimeline(api: MatrixApi, roomId: string, sender: string): Promise<ClientEvent[]> {
  const { chunk } = await api.sync.messages(roomId, { dir: "b", limit: 100 });
  return chunk.filter((e) => e.sender === sender && e.state_key === undefined);
}

/**
 * A fetch that can hold the bot's sync responses (a delay in front of the real
 * server), so a test can act while the bot provably has not synced a room yet.
 */
function syncGate(): { fetch: FetchLike; hold: () => void; release: () => void } {
  let held = false;
  const wrapped: FetchLike = async (input, init) => {
    const response = await fetch(input, init);
    if (new URL(input).pathname.endsWith("/sync")) while (held) await new Promise((r) => setTimeout(r, 50));
    return response;
  };
  return { fetch: wrapped, hold: () => void (held = true), release: () => void (held = false) };
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("encryption fails closed", () => {
  test("bot.sendMessage to a new user: the DM is created encrypted and no m.room.message goes on the wire", async () => {
    const human = await EncryptedHuman.create();
    const gate = syncGate();
    const { bot, account } = await newBot({ storePath: tempStorePath(), fetch: gate.fetch });
    await bot.start({ password: account.password });
    try {
      // Right after createRoom, before sync has shown the room: the case that used to leak.
      gate.hold();
      await bot.sendMessage(human.userId, "first secret");
      await bot.sendMessage(human.userId, "second secret");
      const [roomId] = await bot.getDmRooms(human.userId);
      assert.ok(roomId, "the DM was recorded");
      assert.equal(bot.getRoom(roomId), undefined, "sync had not shown the room while sending");
      gate.release();
      await human.until(() => human.client.getRoom(roomId)?.getMyMembership() === "invite", 20_000, "the invite");
      await human.client.joinRoom(roomId);
      const api = new MatrixApi({ baseUrl: (await homeserver()).baseUrl, accessToken: human.account.accessToken });
      const events = await wireTimeline(api, roomId, bot.userId);
      assert.equal(events.length, 2, "both messages are in the room");
      assert.deepEqual(events.map((e) => e.type), ["m.room.encrypted", "m.room.encrypted"]);
      assert.ok(!JSON.stringify(events).includes("secret"), "no plaintext anywhere in the bot's events");
      // And the human can read what comes next.
      await bot.sendMessage(human.userId, "third secret");
      const third = await human.waitForMessage(roomId, bot.userId, (body) => body === "third secret");
      assert.equal(third.getWireType(), "m.room.encrypted");
    } finally {
      gate.release();
      human.stop();
      await bot.stop();
    }
  });

  test("an m.room.encryption event with {} content from a room admin does not downgrade the room, also after a restart", async () => {
    const admin = await newTestUser("admin");
    const storePath = tempStorePath();
    const first = await newBot({ storePath });
    await first.bot.start({ password: first.account.password });
    const roomId = await admin.createRoom([first.bot.userId], { initial_state: [MEGOLM] });
    let restarted: Awaited<ReturnType<typeof newBot>> | undefined;
    try {
      await waitUntil(() => first.bot.getRoom(roomId)?.membership === "join" && first.bot.getRoom(roomId)?.isEncrypted === true, "the bot to join");
      const seen = new Set<string>();
      first.bot.on("event", (_room, event) => void seen.add(event.event_id));
      const { event_id: downgradeId } = await admin.api.rooms.putState(roomId, "m.room.encryption", "", {});
      await waitUntil(() => seen.has(downgradeId), "the bot to see the {} event");
      assert.equal(first.bot.getRoom(roomId)?.isEncrypted, true, "still encrypted after the {} event");
      await first.bot.sendMessage(roomId, "after the downgrade attempt");
      await first.bot.stop();

      restarted = await newBot({ storePath }, first.account);
      await restarted.bot.start();
      assert.equal(restarted.bot.getRoom(roomId)?.isEncrypted, true, "the restored room is still encrypted");
      await restarted.bot.sendMessage(roomId, "after the restart");

      const events = await wireTimeline(admin.api, roomId, first.bot.userId);
      assert.equal(events.length, 2, "both messages are in the room");
      assert.deepEqual(events.map((e) => e.type), ["m.room.encrypted", "m.room.encrypted"]);
      assert.ok(!JSON.stringify(events).includes("after"), "no plaintext anywhere in the bot's events");
    } finally {
      await first.bot.stop();
      await restarted?.bot.stop();
    }
  });

  test("a room the bot has not synced: the send looks the state up, and an unanswerable lookup refuses", async () => {
    const admin = await newTestUser("admin");
    const gate = syncGate();
    const { bot, account } = await newBot({ storePath: tempStorePath(), fetch: gate.fetch });
    await bot.start({ password: account.password });
    try {
      const roomId = await admin.createRoom([], { initial_state: [MEGOLM], preset: "public_chat" });
      gate.hold();
      await bot.api.rooms.join(roomId);
      await bot.sendMessage(roomId, "hello unsynced");
      assert.equal(bot.getRoom(roomId), undefined, "sync had not shown the room while sending");
      gate.release();
      const events = await wireTimeline(admin.api, roomId, bot.userId);
      assert.deepEqual(events.map((e) => e.type), ["m.room.encrypted"]);

      // A room the bot cannot read: the lookup answers 403, which proves nothing, so nothing is sent.
      const closed = await admin.createRoom([], { preset: "private_chat" });
      await assert.rejects(bot.sendMessage(closed, "hello closed"), EncryptionStateUnknownError);
    } finally {
      gate.release();
      await bot.stop();
    }
  });
});
