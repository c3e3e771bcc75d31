/**
 * `syncMode: "sliding"` with the features that read account data and to-device
 * messages, against the real Synapse: DMs found through `m.direct` (the
 * account data extension), and an encrypted room round trip with a
 * matrix-js-sdk user (the to-device and e2ee extensions).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { MatrixApi } from "../../src/api/client.js";
import { countingFetch, homeserver, newBot, newTestUser, stopHomeserver, tempStorePath } from "../helpers/matrix.js";

after(() => stopHomeserver());

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("sliding sync mode: DMs and encryption", () => {
  test("a DM recorded in m.direct is found by a fresh start in sliding mode, without creating another room", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false, syncMode: "sliding" });
    await bot.start({ password: account.password });
    let roomId: string;
    try {
      await bot.sendMessage(human.userId, "hello");
      [roomId] = (await bot.getDmRooms(human.userId)) as [string];
      assert.ok(roomId);
      await human.api.rooms.join(roomId);
      await until("the bot saw the human join", () => bot.getRoom(roomId)?.member(human.userId)?.membership === "join");
    } finally {
      await bot.stop();
    }
    // Newer rooms push the DM out of a window of 2: the fresh start never sees it.
    const api = new MatrixApi({ baseUrl: (await homeserver()).baseUrl, accessToken: account.accessToken });
    for (let i = 0; i < 3; i++) {
      const { room_id } = await api.rooms.create({ preset: "private_chat" });
      await api.rooms.send(room_id, "m.room.message", { msgtype: "m.text", body: "newer" });
    }
    const counter = countingFetch();
    const { bot: fresh } = await newBot({ encryption: false, syncMode: "sliding", slidingSync: { window: 2 }, fetch: counter.fetch }, account);
    await fresh.start({ password: account.password });
    try {
      assert.equal(fresh.getRoom(roomId), undefined, "the DM is outside the window");
      assert.deepEqual(await fresh.getDmRooms(human.userId), [roomId]);
      counter.reset();
      await fresh.sendMessage(human.userId, "again");
      assert.equal(counter.counts.get("POST /_matrix/client/v3/createRoom"), undefined, "no second DM room");
      await human.waitForEvent((e) => e.room_id === roomId && e.content.body === "again");
    } finally {
      await fresh.stop();
    }
  });

  test("an encrypted DM: the command is decrypted, answered encrypted, and readable", async () => {
    const human = await EncryptedHuman.create();
    const { bot, account } = await newBot({ storePath: tempStorePath(), syncMode: "sliding" });
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(roomId, bot.userId);
      await until("the bot knows the room is encrypted", () => bot.getRoom(roomId)?.isEncrypted === true);
      await human.send(roomId, "!ping");
      const reply = await human.waitForMessage(roomId, bot.userId, (body) => body.includes("pong"));
      assert.equal(reply.getWireType(), "m.room.encrypted");
      assert.equal(reply.isDecryptionFailure(), false);
    } finally {
      human.stop();
      await bot.stop();
    }
  });

  test("an encrypted room outside the window: a new device's send is encrypted for its members and readable", async () => {
    const human = await EncryptedHuman.create();
    const { bot, account } = await newBot({ storePath: tempStorePath(), syncMode: "sliding", slidingSync: { window: 2 } });
    const api = new MatrixApi({ baseUrl: (await homeserver()).baseUrl, accessToken: account.accessToken });
    const roomId = await human.createEncryptedDm(bot.userId);
    await api.rooms.join(roomId);
    await human.waitForJoin(roomId, bot.userId);
    for (let i = 0; i < 3; i++) {
      const { room_id } = await api.rooms.create({ preset: "private_chat" });
      await api.rooms.send(room_id, "m.room.message", { msgtype: "m.text", body: "newer" });
    }
    await bot.start({ password: account.password });
    try {
      assert.equal(bot.getRoom(roomId), undefined, "the encrypted room is outside the window");
      await bot.sendMessage(roomId, "secret");
      const message = await human.waitForMessage(roomId, bot.userId, (body) => body === "secret");
      assert.equal(message.getWireType(), "m.room.encrypted");
      assert.equal(message.isDecryptionFailure(), false);
    } finally {
      human.stop();
      await bot.stop();
    }
  });
});
