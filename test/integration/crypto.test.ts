/**
 * End-to-end encryption against Synapse, with matrix-js-sdk (Rust crypto) as
 * the human: encrypted DMs, commands, replies the human can read, late room
 * keys, and the refusal to send plaintext into an encrypted room.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { EncryptionRequiredError, isDecrypted, type DecryptionFailure } from "../../src/crypto/index.js";
import { EncryptedHuman, MEGOLM } from "../helpers/e2ee-human.js";
import { countingFetch, newBot, newTestUser, tempStorePath } from "../helpers/matrix.js";


describe("end-to-end encryption", () => {
  test("an encrypted DM: the human's command is decrypted, runs, and the encrypted reply is readable", async () => {
    const human = await EncryptedHuman.create();
    const counter = countingFetch();
    const { bot, account } = await newBot({ storePath: tempStorePath(), fetch: counter.fetch });
    assert.equal(bot.encryptionEnabled, true, "a persistent store turns encryption on by default");
    const seen: ClientEvent[] = [];
    bot.on("message", (_room, event) => void seen.push(event));
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(roomId, bot.userId);
      await human.send(roomId, "!ping");
      const reply = await human.waitForMessage(roomId, bot.userId, (body) => body.includes("pong"));
      assert.equal(reply.getWireType(), "m.room.encrypted", "the reply went over the wire encrypted");
      assert.equal(reply.isDecryptionFailure(), false);
      const ping = seen.find((e) => e.sender === human.userId);
      assert.ok(ping, "message handlers saw the decrypted command");
      assert.equal(ping.type, "m.room.message");
      assert.equal(ping.content.body, "!ping");
      assert.equal(ping.room_id, roomId);
      assert.ok(ping.event_id.startsWith("$"));
      assert.equal(isDecrypted(ping), true);
      // The bot's own reply comes back through sync and decrypts too.
      await waitUntil(() => seen.some((e) => e.sender === bot.userId && String(e.content.body).includes("pong")));
      assert.ok(human.wireEvents(roomId, bot.userId).every((e) => e.type !== "m.room.message"), "no plaintext from the bot");

      // Once the room key is shared, an encrypted answer costs what a plain one does: the reply.
      await new Promise((r) => setTimeout(r, 500));
      counter.reset();
      await human.send(roomId, "!ping");
      await human.waitForMessage(roomId, bot.userId, (body) => body.includes("pong") && seen.filter((e) => e.sender === bot.userId).length >= 1, 20_000);
      await waitUntil(() => seen.filter((e) => e.sender === bot.userId && String(e.content.body).includes("pong")).length >= 2);
      const requests = [...counter.counts].filter(([key]) => !key.startsWith("GET /_matrix/client/v3/sync"));
      assert.deepEqual(requests, [["PUT /_matrix/client/v3/rooms/*/send/m.room.encrypted/*", 1]]);
    } finally {
      human.stop();
      await bot.stop();
    }
  });

  test("bot.sendMessage into an encrypted room is encrypted and readable; waitForMessage works there", async () => {
    const human = await EncryptedHuman.create();
    const { bot, account } = await newBot({ storePath: tempStorePath() });
    await bot.start({ password: account.password });
    try {
      const { room_id: roomId } = await human.client.createRoom({ invite: [bot.userId], initial_state: [MEGOLM], name: "crypto group" });
      await human.waitForJoin(roomId, bot.userId);
      await waitUntil(() => bot.getRoom(roomId)?.isEncrypted === true);
      await bot.sendMessage(roomId, "hello **encrypted** world");
      const got = await human.waitForMessage(roomId, bot.userId, (body) => body.includes("encrypted"));
      assert.equal(got.getWireType(), "m.room.encrypted");
      assert.equal(got.getContent().format, "org.matrix.custom.html");
      // A conversation helper waits on the decrypted stream as well.
      const answer = bot.waitForEvent("message", (_room, event) => event.sender === human.userId, 20_000);
      await human.send(roomId, "the answer is 42");
      const [, event] = await answer;
      assert.equal(event.content.body, "the answer is 42");
    } finally {
      human.stop();
      await bot.stop();
    }
  });

  test("without encryption the bot refuses to send plaintext into an encrypted room", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false });
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createRoom([bot.userId], { initial_state: [MEGOLM] });
      await waitUntil(() => bot.getRoom(roomId)?.membership === "join" && bot.getRoom(roomId)?.isEncrypted === true);
      await assert.rejects(bot.sendMessage(roomId, "secret"), EncryptionRequiredError);
      await human.syncOnce();
      assert.ok(!human.seen.some((e) => e.sender === bot.userId && e.type === "m.room.message"), "nothing was sent");
    } finally {
      await bot.stop();
    }
  });

  test("a room key that arrives after its message: reported, then decrypted and handled", async () => {
    const human = await EncryptedHuman.create();
    const { bot, account } = await newBot({ storePath: tempStorePath() });
    const failures: [ClientEvent, DecryptionFailure][] = [];
    bot.on("decryptionFailure", (_room, event, failure) => void failures.push([event, failure]));
    bot.command("late", (ctx) => ctx.respond("got it late"));
    await bot.start({ password: account.password });
    try {
      const roomId = await human.createEncryptedDm(bot.userId);
      await human.waitForJoin(roomId, bot.userId);
      human.holdToDevice();
      const eventId = await human.send(roomId, "!late");
      await waitUntil(() => failures.some(([e]) => e.event_id === eventId), 20_000);
      const [, failure] = failures.find(([e]) => e.event_id === eventId) ?? [];
      assert.equal(failure?.reason, "missing_key");
      assert.equal(failure?.willRetry, true);
      assert.equal(bot.crypto.pendingDecryptions, 1);
      assert.ok((await human.releaseToDevice()) > 0, "the room key was held back");
      const reply = await human.waitForMessage(roomId, bot.userId, (body) => body.includes("got it late"));
      assert.equal(reply.getWireType(), "m.room.encrypted");
      assert.equal(bot.crypto.pendingDecryptions, 0);
    } finally {
      human.stop();
      await bot.stop();
    }
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
