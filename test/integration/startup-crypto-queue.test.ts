/**
 * The first batches are handed to handlers before the crypto machine is open (the start queue,
 * `src/crypto/start-queue.ts`), against the real Synapse with matrix-js-sdk as the encrypting
 * human. The machine's opening is held by the bot's own store: a restored device's opening reads
 * the parked undecryptable events (`loadPendingEvents`) and waits there until the test lets it
 * go. So the order is observed, not timed:
 *
 * - a plaintext command of the first batch is answered while the opening is held; an encrypted
 *   one of the same batch waits, and once the machine has the batch's room key it is decrypted
 *   (no decryption failure) and answered encrypted;
 * - a stop while the machine still lacks a batch saves no position past that batch: the room key
 *   it carried as a to-device event comes again after the restart.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NioBot } from "../../src/bot/bot.js";
import { SqliteStore } from "../../src/storage/sqlite.js";
import type { StoredPendingEvent } from "../../src/storage/store.js";
import { EncryptedHuman } from "../helpers/e2ee-human.js";
import { newBot, newTestUser, tempStorePath, type TestUser } from "../helpers/matrix.js";

/** An SQLite store whose first read of parked events (the crypto machine's opening) waits for `release`. */
class HeldStore extends SqliteStore {
  #release!: () => void;
  readonly #gate = new Promise<void>((resolve) => (this.#release = resolve));
  #entered!: () => void;
  /** Resolves once the machine's opening reached the store. */
  readonly entered = new Promise<void>((resolve) => (this.#entered = resolve));
  released = false;

  override async loadPendingEvents(): Promise<StoredPendingEvent[]> {
    this.#entered();
    await this.#gate;
    return super.loadPendingEvents();
  }

  release(): void {
    this.released = true;
    this.#release();
  }
}

function answerPings(bot: NioBot): void {
  bot.on("message", async (room, event) => {
    const body = String(event.content.body);
    if (event.sender !== bot.userId && body.startsWith("!")) await bot.sendMessage(room.roomId, `answer to ${body}`);
  });
}

/** A bot that ran once: in an encrypted DM with `human` and an unencrypted room with `plain`, both answered, then stopped. */
async function ranOnce(human: EncryptedHuman, plain: TestUser, during?: (bot: NioBot, encrypted: string) => Promise<void>) {
  const storePath = tempStorePath();
  const first = await newBot({ storePath, crossSigning: false });
  answerPings(first.bot);
  await first.bot.start({ password: first.account.password });
  try {
    const encrypted = await human.createEncryptedDm(first.bot.userId);
    await human.waitForJoin(encrypted, first.bot.userId);
    const plainRoom = await plain.createRoom([first.bot.userId]);
    await first.bot.api.rooms.join(plainRoom);
    await plain.send(plainRoom, "!warm");
    await plain.waitForEvent((e) => e.room_id === plainRoom && e.sender === first.bot.userId && e.content.body === "answer to !warm", 30_000);
    await human.send(encrypted, "!before");
    await human.waitForMessage(encrypted, first.bot.userId, (b) => b === "answer to !before", 30_000);
    await during?.(first.bot, encrypted);
    return { storePath, account: first.account, encrypted, plainRoom };
  } finally {
    await first.bot.stop();
  }
}

async function savedToken(storePath: string): Promise<string | undefined> {
  const store = new SqliteStore(storePath);
  await store.open();
  try {
    return await store.getSyncToken();
  } finally {
    await store.close();
  }
}

describe("the first batches before the crypto machine is open", () => {
  test("a plaintext command is answered while the machine opens; an encrypted one waits, decrypts and is answered encrypted", async () => {
    const human = await EncryptedHuman.create();
    const plain = await newTestUser();
    try {
      const { storePath, account, encrypted, plainRoom } = await ranOnce(human, plain);
      // Sent while the bot is down: both come in the restarted bot's first batch, with the new room key as a to-device event.
      await human.client.getCrypto()!.forceDiscardSession(encrypted);
      await human.send(encrypted, "!enc");
      await plain.send(plainRoom, "!plain");

      const store = new HeldStore(storePath);
      const { bot } = await newBot({ store, cryptoStorePath: `${storePath}.crypto`, crossSigning: false }, account);
      answerPings(bot);
      const failures: string[] = [];
      bot.on("decryptionFailure", (_room, event, failure) => void failures.push(`${event.event_id}: ${failure.reason}`));
      const starting = bot.start();
      starting.catch(() => undefined);
      try {
        await store.entered;
        const answer = await plain.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "answer to !plain", 60_000);
        assert.equal(store.released, false, "answered while the machine's opening is held");
        assert.ok(answer.type === "m.room.message", "the unencrypted room is answered in plaintext");
        assert.ok(!human.wireEvents(encrypted, account.userId).some((e) => e.type === "m.room.message"), "nothing in plaintext in the encrypted room");
        assert.throws(() => bot.crypto, /still starting/);

        store.release();
        const reply = await human.waitForMessage(encrypted, account.userId, (b) => b === "answer to !enc", 60_000);
        assert.equal(reply.getWireType(), "m.room.encrypted", "the encrypted command is answered encrypted");
        await starting;
        assert.deepEqual(failures, [], "the machine had the batch's room key before the event was decrypted");
      } finally {
        store.release();
        await starting.catch(() => undefined);
        await bot.stop();
      }
    } finally {
      human.stop();
    }
  });

  test("a stop before the machine took a batch saves no position past it: its room key comes again after a restart", async () => {
    const human = await EncryptedHuman.create();
    const plain = await newTestUser();
    try {
      // The key of "!late" is held back while the bot runs: it parks the event, undecryptable.
      const { storePath, account, encrypted, plainRoom } = await ranOnce(human, plain, async (bot, room) => {
        const parked = new Promise<void>((resolve) => bot.once("decryptionFailure", () => resolve()));
        // A new room key, which the bot does not get yet.
        await human.client.getCrypto()!.forceDiscardSession(room);
        human.holdToDevice();
        await human.send(room, "!late");
        await parked;
      });
      // The key now waits on the server as a to-device event, with a plaintext command beside it.
      assert.ok((await human.releaseToDevice()) > 0, "the room key went out as a to-device message");
      await plain.send(plainRoom, "!plain");
      const before = await savedToken(storePath);

      const store = new HeldStore(storePath);
      const second = await newBot({ store, cryptoStorePath: `${storePath}.crypto`, crossSigning: false }, account);
      answerPings(second.bot);
      const starting = second.bot.start();
      starting.catch(() => undefined);
      try {
        await store.entered;
        // The batch with the room key was handled (its command answered) while the machine could not take it.
        await plain.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "answer to !plain", 60_000);
        assert.equal(store.released, false);
      } finally {
        // A stop now: the machine opens after it, and is closed without the batch.
        const stopping = second.bot.stop();
        store.release();
        await stopping;
        await assert.rejects(starting);
      }
      assert.equal(await savedToken(storePath), before, "no position past the batch the machine never had");

      const third = await newBot({ storePath, crossSigning: false }, account);
      answerPings(third.bot);
      await third.bot.start();
      try {
        const reply = await human.waitForMessage(encrypted, account.userId, (b) => b === "answer to !late", 60_000);
        assert.equal(reply.getWireType(), "m.room.encrypted");
      } finally {
        await third.bot.stop();
      }
    } finally {
      human.stop();
    }
  });
});
