/**
 * The hand-off from sliding sync to incremental `/sync` (`handoff.ts`) against
 * the real Synapse: what arrives in each stage of the hand-off window (before
 * the token, between the token and the catch-up, between the catch-up and the
 * first `/sync` answer) is handled exactly once, timeline events, invites and
 * to-device messages alike; a room sliding sync never showed gets its state
 * before its first `/sync` batch; a restart after the hand-off continues with
 * `/sync` without loss or replay.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import { MatrixApi } from "../../src/api/client.js";
import { endpoints } from "../../src/api/endpoints.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { DEFAULT_SYNC_FILTER, SyncEngine } from "../../src/sync/engine.js";
import { HandoffSource, type HandoffStage } from "../../src/sync/handoff.js";
import { SlidingSyncSource } from "../../src/sync/sliding.js";
import { isSlidingToken } from "../../src/sync/sliding-map.js";
import { LongPollSource } from "../../src/sync/source.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { homeserver, newBot, newTestUser, newUser, stopHomeserver, tempStorePath, type TestUser } from "../helpers/matrix.js";
import type { NioBot } from "../../src/bot/bot.js";
import type { RegisteredUser } from "../../src/devserver/register.js";

after(() => stopHomeserver());

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function joinedRoom(human: TestUser, bot: { userId: string; accessToken: string }, extra: Record<string, unknown> = {}): Promise<string> {
  const hs = await homeserver();
  const roomId = await human.createRoom([bot.userId], extra);
  await new MatrixApi({ baseUrl: hs.baseUrl, accessToken: bot.accessToken }).rooms.join(roomId);
  return roomId;
}

/** What an engine handed to its sink: events, invites and to-device messages, counted. */
class Seen {
  readonly events = new Map<string, number>();
  readonly invites = new Map<string, number>();
  readonly joins = new Map<string, number>();
  /** To-device messages by their `tag` content. */
  readonly toDevice = new Map<string, number>();
}

const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);

/** A bare engine on the hand-off source for `account` (a shared store survives restarts). */
async function handoffEngine(account: RegisteredUser, store: MemoryStore, seen: Seen, o: { encryption?: boolean; window?: number; onStage?: (stage: HandoffStage) => Promise<void> | void } = {}) {
  const hs = await homeserver();
  const api = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken });
  const tracker = new RoomTracker(account.userId);
  tracker.load(await store.loadRooms());
  tracker.partial = true;
  const encryption = o.encryption ?? false;
  const knownJoined = (roomId: string): boolean => tracker.rooms.get(roomId)?.membership === "join";
  const sliding = new SlidingSyncSource({ api, userId: account.userId, encryption, knownJoined, window: o.window ?? 32 });
  const longPoll = new LongPollSource({ api, filter: JSON.stringify(DEFAULT_SYNC_FILTER) });
  const source = new HandoffSource({ api, userId: account.userId, sliding, longPoll, encryption, knownJoined, ...(o.onStage ? { onStage: o.onStage } : {}) });
  const engine = new SyncEngine({
    api, store, tracker, source, timeoutMs: 20_000,
    sink: {
      beforeBatch: (response) => {
        for (const event of response.to_device?.events ?? []) if (typeof event.content?.tag === "string") bump(seen.toDevice, event.content.tag);
      },
      onEvent: (_room, event: ClientEvent) => bump(seen.events, event.event_id),
      onInvite: (room) => bump(seen.invites, room.roomId),
      onJoin: (room) => bump(seen.joins, room.roomId), onLeave: () => undefined,
      onSyncError: () => undefined, onFatal: () => undefined,
    },
  });
  await engine.start();
  return { engine, source, tracker, sliding };
}

/** Sends a to-device message tagged `tag` to the bot's device. */
async function toDevice(human: TestUser, bot: RegisteredUser, tag: string): Promise<void> {
  await human.api.call(endpoints.sendToDevice, {
    path: { eventType: "org.example.handoff", txnId: randomBytes(8).toString("hex") },
    body: { messages: { [bot.userId]: { [bot.deviceId]: { tag } } } },
  });
}

describe("sliding sync hands off to /sync", () => {
  test("a bot in sliding mode answers at once, hands off, and after a restart answers from /sync without replay", async () => {
    const human = await newTestUser();
    const storePath = tempStorePath();
    const { bot, account } = await newBot({ encryption: false, syncMode: "sliding", storePath });
    const seen = new Map<string, number>();
    const count = (b: NioBot): void => {
      b.command("ping", (ctx) => ctx.respond("pong"));
      b.on("message", (_room, event) => bump(seen, event.event_id));
    };
    count(bot);
    await bot.start({ password: account.password });
    const roomId = await human.createRoom([bot.userId]);
    await until("the bot joined", () => bot.getRoom(roomId)?.membership === "join");
    const pings: string[] = [];
    const answered = (ping: string) => human.waitForEvent((e) => e.room_id === roomId && e.sender === bot.userId && (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === ping);
    for (let i = 0; i < 3; i++) {
      pings.push(await human.send(roomId, "!ping"));
      await answered(pings.at(-1)!);
    }
    await bot.stop();
    const reader = (await newBot({ encryption: false, storePath }, account)).bot;
    await reader.store.open();
    const token = await reader.store.getSyncToken();
    await reader.store.close();
    assert.ok(token !== undefined && !isSlidingToken(token), "the bot handed off: its saved position is a /sync token");
    const whileDown = await human.send(roomId, "!ping");
    const { bot: again } = await newBot({ encryption: false, syncMode: "sliding", storePath }, account);
    count(again);
    await again.start();
    try {
      await answered(whileDown);
      const after = await human.send(roomId, "!ping");
      await answered(after);
      pings.push(whileDown, after);
    } finally {
      await again.stop();
    }
    for (const id of pings) assert.equal(seen.get(id), 1, `ping ${id} handled once`);
  });

  test("messages and an invite in every stage of the hand-off window are handled exactly once; a restart continues with /sync", async () => {
    const human = await newTestUser();
    const account = await newUser("hobot");
    const roomId = await joinedRoom(human, account);
    const store = new MemoryStore();
    const seen = new Seen();
    const sent: string[] = [];
    let invitedRoom: string | undefined;
    const onStage = async (stage: HandoffStage): Promise<void> => {
      sent.push(await human.send(roomId, `during the hand-off: ${stage}`));
      // Between the token and the catch-up: the catch-up delivers the invite, and /sync from the token again.
      if (stage === "token") invitedRoom = await human.createRoom([account.userId]);
    };
    const first = await handoffEngine(account, store, seen, { onStage });
    try {
      // Answered by the sliding long poll; the hand-off follows it.
      sent.push(await human.send(roomId, "before the hand-off"));
      await until("the hand-off is done", () => first.source.stats.handoffs === 1);
      sent.push(await human.send(roomId, "after the hand-off"));
      await until("every message is handled", () => sent.every((id) => seen.events.has(id)));
      // One more round trip: whatever /sync would deliver twice has come by now.
      const last = await human.send(roomId, "the last one");
      await until("the last message is handled", () => seen.events.has(last));
      sent.push(last);
    } finally {
      await first.engine.stop();
    }
    for (const id of sent) assert.equal(seen.events.get(id), 1, `event ${id} handled once`);
    assert.ok(invitedRoom);
    assert.equal(seen.invites.get(invitedRoom), 1, "the invite in the hand-off window is dispatched once");
    const saved = await store.getSyncToken();
    assert.ok(saved !== undefined && !isSlidingToken(saved), "after the hand-off the saved position is a /sync token");

    // Restart: the saved /sync token means incremental /sync at once, no sliding request.
    const whileDown = await human.send(roomId, "while the bot was down");
    const again = await handoffEngine(account, store, seen);
    try {
      await until("the message sent while down is handled", () => seen.events.has(whileDown));
      const next = await human.send(roomId, "after the restart");
      await until("a new message is handled", () => seen.events.has(next));
      assert.equal(seen.events.get(next), 1);
    } finally {
      await again.engine.stop();
    }
    assert.equal(again.sliding.stats.requests, 0, "no sliding request after a restart from a /sync token");
    assert.equal(seen.events.get(whileDown), 1);
    for (const id of sent) assert.equal(seen.events.get(id), 1, `event ${id} not replayed after the restart`);
  });

  test("to-device messages before and in every stage of the hand-off window are handled exactly once", async () => {
    const human = await newTestUser();
    const account = await newUser("hotd");
    const store = new MemoryStore();
    const seen = new Seen();
    const tags: string[] = [];
    const send = async (tag: string): Promise<void> => {
      tags.push(tag);
      await toDevice(human, account, tag);
    };
    const { engine, source } = await handoffEngine(account, store, seen, { encryption: true, onStage: (stage) => send(stage) });
    try {
      // Delivered by the sliding long poll (and acknowledged only by the hand-off's first request).
      await send("before");
      await until("the hand-off is done", () => source.stats.handoffs === 1);
      await send("after");
      await until("every to-device message is handled", () => tags.every((tag) => seen.toDevice.has(tag)));
      await send("last");
      await until("the last one is handled", () => seen.toDevice.has("last"));
    } finally {
      await engine.stop();
    }
    assert.deepEqual(Object.fromEntries(seen.toDevice), Object.fromEntries(tags.map((tag) => [tag, 1])));
  });

  test("a room sliding sync never showed gets its state before its first /sync batch: its encryption is known, and it is not taken for a join", async () => {
    const human = await newTestUser();
    const account = await newUser("hostate");
    const encrypted = await joinedRoom(human, account, { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    await joinedRoom(human, account);
    const recent = await joinedRoom(human, account);
    const seen = new Seen();
    // A window of two: news in one room does not fill it, so it is not widened to show the old room.
    const { engine, source, tracker } = await handoffEngine(account, new MemoryStore(), seen, { window: 2 });
    try {
      assert.equal(tracker.rooms.get(encrypted), undefined, "outside the window of two rooms");
      await human.send(recent, "news in the recent room");
      await until("the hand-off is done", () => source.stats.handoffs === 1);
      const ping = await human.send(encrypted, "news in the old room");
      await until("the old room's message is handled", () => seen.events.has(ping));
      assert.equal(tracker.rooms.get(encrypted)?.membership, "join");
      assert.equal(tracker.rooms.get(encrypted)?.isEncrypted, true, "its encryption came with the fetched state");
      assert.equal(source.stats.stateFetches, 1);
      assert.equal(seen.joins.get(encrypted), undefined, "an old room's first news is not a join");
    } finally {
      await engine.stop();
    }
  });
});
