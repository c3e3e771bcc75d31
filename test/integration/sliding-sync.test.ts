/**
 * `syncMode: "sliding"` against the real Synapse: commands answered, history
 * on a first start not treated as news, invites and leaves, the position saved
 * after handlers with no replay after a restart, a window fuller than its size,
 * and a position the server no longer knows.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { MatrixApi } from "../../src/api/client.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { SlidingSyncSource } from "../../src/sync/sliding.js";
import { encodeSlidingToken, parseSlidingToken } from "../../src/sync/sliding-map.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { homeserver, newBot, newTestUser, newUser, stopHomeserver, tempStorePath, type TestUser } from "../helpers/matrix.js";
import type { NioBot } from "../../src/bot/bot.js";
import { EncryptionRequiredError, EncryptionStateUnknownError } from "../../src/crypto/errors.js";
import { faultyFetch, type FaultRule } from "../helpers/faults.js";

after(() => stopHomeserver());

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Counts each message the bot's listeners got, by event id. */
function tally(bot: NioBot): Map<string, number> {
  const seen = new Map<string, number>();
  bot.on("message", (_room, event) => void seen.set(event.event_id, (seen.get(event.event_id) ?? 0) + 1));
  return seen;
}

/** Joins the bot's account to a new room of `human` (before the bot runs). */
async function joinedRoom(human: TestUser, bot: { userId: string; accessToken: string }): Promise<string> {
  const hs = await homeserver();
  const roomId = await human.createRoom([bot.userId]);
  await new MatrixApi({ baseUrl: hs.baseUrl, accessToken: bot.accessToken }).rooms.join(roomId);
  return roomId;
}


/** A bare engine on sliding sync for `account`, recording handled event ids (a shared store survives restarts). */
async function slidingEngine(account: { userId: string; accessToken: string }, store: MemoryStore, handled: string[], tuning: { window: number; timelineLimit?: number }) {
  const hs = await homeserver();
  const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken });
  const tracker = new RoomTracker(account.userId);
  const source = new SlidingSyncSource({ api, userId: account.userId, encryption: false, ...tuning });
  const engine = new SyncEngine({
    api, store, tracker, source, timeoutMs: 1_000,
    sink: {
      onEvent: (_room, event: ClientEvent) => void handled.push(event.event_id),
      onInvite: () => undefined, onJoin: () => undefined, onLeave: () => undefined,
      onSyncError: () => undefined, onFatal: () => undefined,
    },
  });
  await engine.start();
  return { engine, source, tracker };
}

describe("sliding sync mode", () => {
  test("a first start treats the room's history as history, then answers commands", async () => {
    const human = await newTestUser();
    const account = await newUser("slbot");
    const roomId = await joinedRoom(human, account);
    const old = await human.send(roomId, "!ping before the bot started");
    const { bot } = await newBot({ encryption: false, syncMode: "sliding" }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    const seen = tally(bot);
    await bot.start({ password: account.password });
    assert.equal(bot.getRoom(roomId)?.membership, "join");
    const ping = await human.send(roomId, "!ping");
    await human.waitForEvent((e) => e.room_id === roomId && e.sender === bot.userId && e.content.body === "pong");
    assert.equal(seen.get(ping), 1);
    assert.equal(seen.get(old), undefined, "history before the first start is not news");
    await bot.stop();
  });

  test("invites are joined, and a kick is a leave", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false, syncMode: "sliding" });
    const joins: string[] = [];
    const leaves: string[] = [];
    bot.on("join", (room) => void joins.push(room.roomId));
    bot.on("leave", (room) => void leaves.push(room.roomId));
    await bot.start({ password: account.password });
    const roomId = await human.createRoom([bot.userId]);
    await until("the bot joined", () => bot.getRoom(roomId)?.membership === "join");
    await until("join emitted", () => joins.includes(roomId));
    await human.api.rooms.kick(roomId, bot.userId, "bye");
    await until("the leave arrived", () => leaves.includes(roomId));
    assert.equal(bot.getRoom(roomId), undefined, "a left room is forgotten");
    await bot.stop();
  });

  test("the position is saved after handlers: a restart replays nothing and catches up on what came meanwhile", async () => {
    const human = await newTestUser();
    const storePath = tempStorePath();
    // Without the hand-off to /sync, so the stored position stays a sliding one (sliding-handoff.test.ts restarts from a /sync one).
    const { bot, account } = await newBot({ encryption: false, syncMode: "sliding", slidingSync: { handoff: false }, storePath });
    let seen = tally(bot);
    await bot.start({ password: account.password });
    const roomId = await human.createRoom([bot.userId]);
    await until("the bot joined", () => bot.getRoom(roomId)?.membership === "join");
    const first = await human.send(roomId, "one");
    await until("handled", () => seen.get(first) === 1);
    await bot.stop();
    const token = parseSlidingToken(await (async () => {
      const { bot: reader } = await newBot({ encryption: false, storePath }, account);
      await reader.store.open();
      const t = await reader.store.getSyncToken();
      await reader.store.close();
      return t;
    })());
    assert.ok(token?.pos, "a sliding position was stored");
    const whileDown = await human.send(roomId, "two, while the bot was down");
    const { bot: again } = await newBot({ encryption: false, syncMode: "sliding", slidingSync: { handoff: false }, storePath }, account);
    seen = tally(again);
    await again.start();
    await until("the message sent while down was handled", () => seen.get(whileDown) === 1);
    assert.equal(seen.get(first), undefined, "the handled event did not run again");
    await again.stop();
  });

  test("an unknown position starts a new connection: what came since the last handled event is news, nothing runs twice", async () => {
    const human = await newTestUser();
    const storePath = tempStorePath();
    // Without the hand-off to /sync, so the stored position stays a sliding one (sliding-handoff.test.ts restarts from a /sync one).
    const { bot, account } = await newBot({ encryption: false, syncMode: "sliding", slidingSync: { handoff: false }, storePath });
    let seen = tally(bot);
    await bot.start({ password: account.password });
    const roomId = await human.createRoom([bot.userId]);
    await until("the bot joined", () => bot.getRoom(roomId)?.membership === "join");
    const first = await human.send(roomId, "handled before");
    await until("handled", () => seen.get(first) === 1);
    await bot.stop();
    const whileDown = await human.send(roomId, "sent while the position was lost");
    // The server has never heard of this position: it answers M_UNKNOWN_POS.
    const { bot: again } = await newBot({ encryption: false, syncMode: "sliding", storePath }, account);
    await again.store.open();
    await again.store.commitSync(encodeSlidingToken({ pos: "987654/s1_1_0_1_1_1_1_1_0_1" }), []);
    seen = tally(again);
    await again.start();
    await until("the message after the last handled one was handled", () => seen.get(whileDown) === 1);
    const now = await human.send(roomId, "and the new connection goes on");
    await until("handled", () => seen.get(now) === 1);
    assert.equal(seen.get(first), undefined, "nothing ran twice");
    assert.notEqual(parseSlidingToken(await again.store.getSyncToken())?.pos, "987654/s1_1_0_1_1_1_1_1_0_1");
    await again.stop();
  });

  test("more rooms with news than the window holds: every message is handled once", async () => {
    const human = await newTestUser();
    const account = await newUser("slwin");
    const rooms: string[] = [];
    for (let i = 0; i < 7; i++) rooms.push(await joinedRoom(human, account));
    const store = new MemoryStore();
    const handled: string[] = [];
    const first = await slidingEngine(account, store, handled, { window: 2 });
    await first.engine.stop();
    const sent: string[] = [];
    for (const roomId of rooms) sent.push(await human.send(roomId, `news in ${roomId}`));
    const { engine, source } = await slidingEngine(account, store, handled, { window: 2 });
    try {
      await until("every message was handled", () => sent.every((id) => handled.includes(id)));
      assert.ok(source.stats.widened > 0, "the full window was asked again, larger");
      assert.equal(source.window, 2, "and went back to its size");
      for (const id of sent) assert.equal(handled.filter((h) => h === id).length, 1);
    } finally {
      await engine.stop();
    }
  });

  test("the window stays fixed: a reaction in a room outside it since the start is delivered, with the room's state", async () => {
    const human = await newTestUser();
    const account = await newUser("slfix");
    const rooms: string[] = [];
    for (let i = 0; i < 6; i++) rooms.push(await joinedRoom(human, account));
    const oldest = rooms[0]!;
    const target = await human.send(oldest, "react to me");
    for (const roomId of rooms.slice(1)) await human.send(roomId, "newer");
    const handled: string[] = [];
    const { engine, source, tracker } = await slidingEngine(account, new MemoryStore(), handled, { window: 2 });
    try {
      await until("the two newest rooms are known", () => tracker.rooms.size === 2);
      assert.equal(tracker.rooms.has(oldest), false, "the oldest room is outside the window");
      const requests = source.stats.requests;
      await until("the next long poll is running", () => source.stats.requests > requests);
      const { event_id: reaction } = await human.api.rooms.send(oldest, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: target, key: "👍" } });
      await until("the reaction was handled", () => handled.includes(reaction));
      assert.equal(handled.includes(target), false, "history stayed history");
      const room = tracker.rooms.get(oldest);
      assert.equal(room?.membership, "join");
      assert.equal(room?.create?.sender, human.userId, "the room came with its state");
      assert.equal(source.window, 2, "the window did not grow");
      assert.equal(source.complete, false);
      assert.equal(tracker.rooms.size, 3, "only rooms with news were sent");
    } finally {
      await engine.stop();
    }
  });

  test("a bot in more rooms than its window answers in a room outside it, sends into rooms it has not seen, and never plaintext where it cannot tell", async () => {
    const human = await newTestUser();
    const account = await newUser("slout");
    const quiet = await joinedRoom(human, account);
    const plain = await joinedRoom(human, account);
    const unsure = await joinedRoom(human, account);
    const encrypted = await human.createRoom([account.userId], { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    await new MatrixApi({ baseUrl: (await homeserver()).baseUrl, accessToken: account.accessToken }).rooms.join(encrypted);
    for (let i = 0; i < 3; i++) await human.send(await joinedRoom(human, account), "newer");
    // Armed later: the encryption lookup of `unsure` is refused (a 5xx would be retried), so the bot cannot tell.
    const lookupFails: FaultRule = { method: "GET", path: /\/state\/m\.room\.encryption\/?$/, times: 0, fault: { kind: "status", status: 403, body: { errcode: "M_FORBIDDEN", error: "injected" } } };
    const faults = faultyFetch([lookupFails]);
    const { bot } = await newBot({ encryption: false, syncMode: "sliding", slidingSync: { window: 2 }, fetch: faults.fetch }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    await bot.start({ password: account.password });
    try {
      for (const roomId of [quiet, plain, unsure, encrypted]) assert.equal(bot.getRoom(roomId), undefined, "outside the window since the start");
      await human.send(quiet, "!ping");
      await human.waitForEvent((e) => e.room_id === quiet && e.sender === bot.userId && e.content.body === "pong");
      assert.equal(bot.getRoom(quiet)?.membership, "join");

      await bot.sendMessage(plain, "hello, unseen room");
      await human.waitForEvent((e) => e.room_id === plain && e.sender === bot.userId && e.content.body === "hello, unseen room");

      await assert.rejects(bot.sendMessage(encrypted, "secret"), EncryptionRequiredError);
      lookupFails.times = 1;
      await assert.rejects(bot.sendMessage(unsure, "maybe secret"), EncryptionStateUnknownError);
      for (const roomId of [encrypted, unsure]) {
        const { chunk } = await human.api.sync.messages(roomId, { dir: "b", limit: 50 });
        assert.equal(chunk.filter((e) => e.sender === bot.userId && e.type !== "m.room.member").length, 0, "nothing was sent");
      }
    } finally {
      await bot.stop();
    }
  });

  test("a gappy timeline is back-filled to the previous position: a burst while down is handled whole, in order", async () => {
    const human = await newTestUser();
    const account = await newUser("slgap");
    const roomId = await joinedRoom(human, account);
    const before = await human.send(roomId, "history");
    const store = new MemoryStore();
    const handled: string[] = [];
    const first = await slidingEngine(account, store, handled, { window: 5, timelineLimit: 2 });
    await first.engine.stop();
    const burst: string[] = [];
    for (let i = 0; i < 7; i++) burst.push(await human.send(roomId, `burst ${i}`));
    const { engine } = await slidingEngine(account, store, handled, { window: 5, timelineLimit: 2 });
    try {
      await until("the whole burst was handled", () => burst.every((id) => handled.includes(id)));
      assert.deepEqual(handled.filter((id) => burst.includes(id)), burst, "in order, once each");
      assert.equal(handled.includes(before), false);
    } finally {
      await engine.stop();
    }
  });
});
