/**
 * Typing notifications and read receipts against a real homeserver: a human
 * account's sync reads back the `m.typing` and `m.receipt` ephemeral events,
 * and the bot's requests are counted to check the cost rules.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import type { NioBot } from "../../src/bot/bot.js";
import type { NioBotOptions } from "../../src/bot/bot.js";
import { sleep } from "../../src/util/async.js";
import { countingFetch, newBot, newTestUser, type EphemeralEvent, type TestUser } from "../helpers/matrix.js";
import { parked } from "../../src/sync/scheduler.js";

/** Counts receipt requests and records every typing request's `typing` flag. */
function recorder(): { fetch: FetchLike; typing: boolean[]; receipts: string[] } {
  const typing: boolean[] = [];
  const receipts: string[] = [];
  const counter = countingFetch();
  const wrapped: FetchLike = (input, init) => {
    const path = new URL(input).pathname;
    if (init.method === "PUT" && /\/typing\//.test(path)) typing.push((JSON.parse(String(init.body)) as { typing: boolean }).typing);
    const receipt = /\/receipt\/m\.read\/([^/]+)$/.exec(path);
    if (init.method === "POST" && receipt) receipts.push(decodeURIComponent(receipt[1] ?? ""));
    return counter.fetch(input, init);
  };
  return { fetch: wrapped, typing, receipts };
}

/** A started bot in a fresh room with a fresh human. */
async function setup(options: Partial<NioBotOptions>): Promise<{ bot: NioBot; human: TestUser; roomId: string }> {
  const human = await newTestUser("human");
  const { bot, account } = await newBot(options);
  await bot.start({ password: account.password });
  const joined = bot.waitForEvent("join", undefined, 20_000);
  const roomId = await human.createRoom([bot.userId]);
  await joined;
  return { bot, human, roomId };
}

/** Whether `event` is an `m.receipt` by `userId` for `eventId` in `roomId`. */
function isReceipt(event: EphemeralEvent, roomId: string, eventId: string, userId: string): boolean {
  const receipt = event.content[eventId] as { "m.read"?: Record<string, { ts?: number }> } | undefined;
  return event.room_id === roomId && event.type === "m.receipt" && typeof receipt?.["m.read"]?.[userId]?.ts === "number";
}

function typingUsers(event: EphemeralEvent): string[] {
  return (event.content.user_ids as string[] | undefined) ?? [];
}

/** Waits for an `m.typing` of the room after position `from` whose user list does (or doesn't) include `userId`. */
async function waitForTyping(human: TestUser, roomId: string, userId: string, typing: boolean, from = 0): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const index = human.ephemeral.findIndex((e, i) => i >= from && e.room_id === roomId && e.type === "m.typing" && typingUsers(e).includes(userId) === typing);
    if (index !== -1) return index;
    if (Date.now() > deadline) throw new Error(`no m.typing with ${userId} ${typing ? "typing" : "not typing"}`);
    await human.syncOnce(2_000);
  }
}

describe("messaging: typing", () => {
  test("two overlapping works in one room: typing once, exactly one 'stopped' at the end, seen by others", async () => {
    const rec = recorder();
    const { bot, human, roomId } = await setup({ fetch: rec.fetch });
    try {
      await human.syncOnce();
      const works = Promise.all([
        bot.typing(roomId, async () => {
          await sleep(300);
          return "short";
        }),
        bot.typing(roomId, async () => {
          await sleep(1500);
          return "long";
        }),
      ]);
      const on = await waitForTyping(human, roomId, bot.userId, true);
      assert.deepEqual(await works, ["short", "long"]);
      assert.deepEqual(rec.typing, [true, false], "one 'typing' and one 'stopped', no refresh within 20 s");
      await waitForTyping(human, roomId, bot.userId, false, on + 1);
    } finally {
      await bot.stop();
    }
  });

  test("typing is refreshed while work runs, and stops even when the work throws", async () => {
    const rec = recorder();
    const { bot, roomId } = await setup({ fetch: rec.fetch });
    try {
      await bot.typing(roomId, () => sleep(1_300), { timeoutMs: 1_000, refreshMs: 400 });
      assert.ok(rec.typing.filter((t) => t).length >= 3, `refreshed: ${JSON.stringify(rec.typing)}`);
      assert.deepEqual(rec.typing.filter((t) => !t), [false]);
      assert.equal(rec.typing.at(-1), false);
      rec.typing.length = 0;
      await assert.rejects(bot.typing(roomId, () => Promise.reject(new Error("work failed"))), /work failed/);
      assert.deepEqual(rec.typing, [true, false]);
    } finally {
      await bot.stop();
    }
  });
});

describe("messaging: read receipts", () => {
  test("commands: a handled command the bot did not answer gets one receipt; an answered one gets none", async () => {
    const rec = recorder();
    const { bot, human, roomId } = await setup({ fetch: rec.fetch });
    bot.command("hush", () => undefined);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    try {
      const chatter = await human.send(roomId, "just chatting");
      const hush = await human.send(roomId, "!hush");
      await human.waitForEphemeral((e) => isReceipt(e, roomId, hush, bot.userId));
      assert.deepEqual(rec.receipts, [hush], "plain chatter is not 'handled' by default; the silent command is");

      const ping = await human.send(roomId, "!ping");
      await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "pong");
      await sleep(500);
      await human.syncOnce();
      assert.deepEqual(rec.receipts, [hush], "the reply marks !ping read: no receipt");
      assert.equal(human.ephemeral.some((e) => isReceipt(e, roomId, ping, bot.userId) || isReceipt(e, roomId, chatter, bot.userId)), false);
    } finally {
      await bot.stop();
    }
  });

  test('"messages" mode: unanswered messages get a receipt, answered ones none, a burst one receipt', async () => {
    const rec = recorder();
    const { bot, human, roomId } = await setup({ fetch: rec.fetch, autoReadReceipts: "messages" });
    let slowStarted = 0;
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    bot.on("message", async (_room, event) => {
      if (event.sender !== human.userId) return;
      if (event.content.body.startsWith("answer")) await bot.reply(event, "answered");
      // The burst's handlers all wait until the last one started, so they overlap however slow the server is.
      if (event.content.body.startsWith("slow")) {
        if (++slowStarted === 3) releaseSlow();
        // One room's handlers run in order: a handler waiting on later events of its room parks, as waitForEvent does.
        await parked(slowGate);
      }
    });
    try {
      const quiet = await human.send(roomId, "quiet one");
      const seen = await human.waitForEphemeral((e) => isReceipt(e, roomId, quiet, bot.userId));
      assert.equal(seen.type, "m.receipt");
      assert.deepEqual(rec.receipts, [quiet]);

      const answered = await human.send(roomId, "answer me");
      await human.waitForEvent((e) => e.sender === bot.userId && e.content.body === "answered");
      await sleep(500);
      assert.deepEqual(rec.receipts, [quiet], "no receipt for a message the bot answered");

      const burst = [await human.send(roomId, "slow 1"), await human.send(roomId, "slow 2"), await human.send(roomId, "slow 3")];
      await human.waitForEphemeral((e) => isReceipt(e, roomId, burst[2] as string, bot.userId));
      assert.deepEqual(rec.receipts, [quiet, burst[2]], "one receipt for the burst, for its latest event");
      assert.equal(human.ephemeral.some((e) => isReceipt(e, roomId, answered, bot.userId)), false);

      // Explicit receipts always go out, answered or not.
      const manual = await human.send(roomId, "answer this too");
      await human.waitForEvent((e) => e.sender === bot.userId && (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === manual);
      await bot.markRead(roomId, manual);
      await human.waitForEphemeral((e) => isReceipt(e, roomId, manual, bot.userId));
      assert.deepEqual(rec.receipts, [quiet, burst[2], manual]);
    } finally {
      await bot.stop();
    }
  });

  test("autoReadReceipts: false sends none, even for silent commands", async () => {
    const rec = recorder();
    const { bot, human, roomId } = await setup({ fetch: rec.fetch, autoReadReceipts: false });
    bot.command("hush", () => undefined);
    const done = bot.waitForEvent("commandComplete", undefined, 20_000);
    try {
      await human.send(roomId, "!hush");
      await done;
      await sleep(300);
      assert.deepEqual(rec.receipts, []);
    } finally {
      await bot.stop();
    }
  });
});
