/**
 * Direct messages against the real homeserver, with a second real account
 * reading back what the bot did: invites, `m.direct`, where messages land.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { MatrixError } from "../../src/api/errors.js";
import type { NioBot } from "../../src/bot/bot.js";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { createDmBot } from "../../examples/direct-messages.js";
import { faultyFetch } from "../helpers/faults.js";
import { countingFetch, homeserver, newBot, newTestUser, newUser, tempStorePath, type TestUser } from "../helpers/matrix.js";


/** Unrelated `m.direct` content another client left: other users, junk keys and values, a dead room. */
function junkDirect(partner?: string): Record<string, unknown> {
  return {
    "@someone:elsewhere.example": ["!a:elsewhere.example", "!b:elsewhere.example"],
    "com.example.unknown": { nested: [1, 2, { deep: true }] },
    "@weird:localhost": "not-a-list",
    ...(partner ? { [partner]: ["!dead-room:localhost"] } : {}),
  };
}

function assertJunkKept(content: Record<string, unknown>, partner?: string): void {
  const junk = junkDirect();
  for (const [key, value] of Object.entries(junk)) assert.deepEqual(content[key], value, `m.direct key ${key} was changed`);
  if (partner) assert.ok((content[partner] as string[]).includes("!dead-room:localhost"), "the partner's old entry was dropped");
}

async function botApi(account: RegisteredUser): Promise<MatrixApi> {
  return new MatrixApi({ baseUrl: (await homeserver()).baseUrl, accessToken: account.accessToken });
}

async function serverDirect(account: RegisteredUser): Promise<Record<string, unknown>> {
  return (await botApi(account)).accountData.get(account.userId, "m.direct");
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Requests other than the sync loop's own. */
function nonSync(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].filter(([key]) => !/\/sync$|\/messages$/.test(key)));
}

/** The member event of `userId` in an invite, as the invitee's sync shows it. */
async function inviteMemberContent(user: TestUser, roomId: string): Promise<Record<string, unknown> | undefined> {
  await user.waitForInvite(roomId);
  const response = await user.api.sync.sync({ timeout: 0 });
  const events = response.rooms?.invite?.[roomId]?.invite_state?.events ?? [];
  return events.find((e) => e.type === "m.room.member" && e.state_key === user.userId)?.content;
}

async function joinAndRead(user: TestUser, roomId: string, body: string, bot: NioBot): Promise<void> {
  await user.api.rooms.join(roomId);
  await user.waitForEvent((e) => e.room_id === roomId && e.sender === bot.userId && e.content.body === body);
}

describe("direct messages", () => {
  test("first send creates an is_direct room recorded in m.direct; the next send reuses it at no extra cost", async () => {
    const human = await newTestUser();
    const counter = countingFetch();
    const { bot, account } = await newBot({ fetch: counter.fetch });
    await (await botApi(account)).accountData.put(account.userId, "m.direct", junkDirect(human.userId));
    await bot.start({ password: account.password });
    try {
      counter.reset();
      await bot.sendMessage(human.userId, "first");
      const first = nonSync(counter.counts);
      const [roomId] = (await bot.getDmRooms(human.userId)).filter((id) => id !== "!dead-room:localhost");
      assert.ok(roomId);
      assert.deepEqual(Object.values(first).reduce((a, b) => a + b, 0), 4, `first send: ${JSON.stringify(first)}`);

      const member = await inviteMemberContent(human, roomId);
      assert.equal(member?.membership, "invite");
      assert.equal(member?.is_direct, true);

      const direct = await serverDirect(account);
      assert.deepEqual(direct[human.userId], ["!dead-room:localhost", roomId]);
      assertJunkKept(direct, human.userId);
      assert.deepEqual((await bot.getDmRooms())[human.userId], ["!dead-room:localhost", roomId]);

      counter.reset();
      await bot.sendMessage(human.userId, "second");
      assert.deepEqual(nonSync(counter.counts), { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": 1 });

      await joinAndRead(human, roomId, "second", bot);
      assert.ok(human.seen.some((e) => e.room_id === roomId && e.content.body === "first"));
      await until(() => bot.getRoom(roomId)?.member(human.userId)?.membership === "join", "the bot sees the join");
      counter.reset();
      await bot.sendMessage(human.userId, "third");
      assert.deepEqual(nonSync(counter.counts), { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": 1 });
      assert.equal(await bot.isDm(roomId), true);
      assert.equal(await bot.dms.resolve(human.userId), roomId);
    } finally {
      await bot.stop();
    }
  });

  test("a restart on the same store reuses the room without asking the server", async () => {
    const storePath = tempStorePath();
    const human = await newTestUser();
    const counter = countingFetch();
    // Unencrypted, so the human (who has no crypto) can read the message.
    const { bot, account } = await newBot({ storePath, encryption: false });
    await bot.start({ password: account.password });
    let roomId: string;
    try {
      await bot.sendMessage(human.userId, "before restart");
      [roomId] = (await bot.getDmRooms(human.userId)) as [string];
      await until(() => bot.getRoom(roomId)?.member(human.userId) !== undefined, "the bot syncs the invite");
    } finally {
      await bot.stop();
    }
    const { bot: again } = await newBot({ storePath, encryption: false, fetch: counter.fetch }, account);
    await again.start();
    try {
      counter.reset();
      await again.sendMessage(human.userId, "after restart");
      assert.deepEqual(nonSync(counter.counts), { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": 1 });
      await joinAndRead(human, roomId, "after restart", again);
    } finally {
      await again.stop();
    }
  });

  test("when the user leaves, the next send creates a new room and keeps the old entry", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      await bot.sendMessage(human.userId, "hello");
      const [oldRoom] = (await bot.getDmRooms(human.userId)) as [string];
      await joinAndRead(human, oldRoom, "hello", bot);
      await human.api.rooms.leave(oldRoom);
      await until(() => bot.getRoom(oldRoom)?.member(human.userId)?.membership === "leave", "the bot sees the leave");

      await bot.sendMessage(human.userId, "are you there?");
      const rooms = await bot.getDmRooms(human.userId);
      assert.equal(rooms.length, 2);
      assert.equal(rooms[0], oldRoom);
      const newRoom = rooms[1] as string;
      assert.equal((await inviteMemberContent(human, newRoom))?.is_direct, true);
      assert.deepEqual((await serverDirect(account))[human.userId], [oldRoom, newRoom]);
      assert.equal(await bot.isDm(oldRoom), false);
      assert.equal(await bot.isDm(newRoom), true);
    } finally {
      await bot.stop();
    }
  });

  test("when the bot is no longer in the room, the next send creates a new room", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      await bot.sendMessage(human.userId, "hello");
      const [oldRoom] = (await bot.getDmRooms(human.userId)) as [string];
      await joinAndRead(human, oldRoom, "hello", bot);
      // (trusted_private_chat gives both the same power, so the human cannot kick the bot.)
      await bot.api.rooms.leave(oldRoom);
      await until(() => bot.getRoom(oldRoom) === undefined, "the bot sees its leave");
      await bot.sendMessage(human.userId, "sorry");
      const rooms = await bot.getDmRooms(human.userId);
      assert.deepEqual(rooms.slice(0, 1), [oldRoom]);
      assert.equal(rooms.length, 2);
    } finally {
      await bot.stop();
    }
  });

  test("a third member makes the room unusable: the next send uses a one-to-one room", async () => {
    const human = await newTestUser();
    const third = await newTestUser("third");
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      await bot.sendMessage(human.userId, "hello");
      const [shared] = (await bot.getDmRooms(human.userId)) as [string];
      await joinAndRead(human, shared, "hello", bot);
      await human.api.rooms.invite(shared, third.userId);
      await third.api.rooms.join(shared);
      await until(() => bot.getRoom(shared)?.summary.joined === 3, "the bot sees three members");
      assert.equal(await bot.isDm(shared), false);

      await bot.sendMessage(human.userId, "just us");
      const rooms = await bot.getDmRooms(human.userId);
      assert.equal(rooms.length, 2);
      const oneToOne = rooms[1] as string;
      await joinAndRead(human, oneToOne, "just us", bot);
      const joined = await human.api.rooms.joinedMembers(oneToOne);
      assert.deepEqual(Object.keys(joined.joined).sort(), [account.userId, human.userId].sort());
    } finally {
      await bot.stop();
    }
  });

  test("10 concurrent sends to one user create one room", async () => {
    const human = await newTestUser();
    const counter = countingFetch();
    const { bot, account } = await newBot({ fetch: counter.fetch });
    await bot.start({ password: account.password });
    try {
      counter.reset();
      await Promise.all(Array.from({ length: 10 }, (_, i) => bot.sendMessage(human.userId, `burst ${i}`)));
      assert.equal(counter.counts.get("POST /_matrix/client/v3/createRoom"), 1);
      const rooms = await bot.getDmRooms(human.userId);
      assert.equal(rooms.length, 1);
      await joinAndRead(human, rooms[0] as string, "burst 9", bot);
      const page = await human.api.sync.messages(rooms[0] as string, { dir: "f", limit: 100 });
      const bodies = page.chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body);
      assert.deepEqual(bodies, Array.from({ length: 10 }, (_, i) => `burst ${i}`));
    } finally {
      await bot.stop();
    }
  });

  test("20 concurrent first DMs to 20 users all end up in m.direct, next to the junk", async () => {
    const users = await Promise.all(Array.from({ length: 20 }, () => newUser("many")));
    const counter = countingFetch();
    const { bot, account } = await newBot({ fetch: counter.fetch });
    await (await botApi(account)).accountData.put(account.userId, "m.direct", junkDirect());
    await bot.start({ password: account.password });
    try {
      counter.reset();
      const roomIds = await Promise.all(users.map((u) => bot.dms.resolve(u.userId)));
      await Promise.all(users.map((u) => bot.sendMessage(u.userId, "hi")));
      assert.equal(new Set(roomIds).size, 20);
      const direct = await serverDirect(account);
      for (const [i, user] of users.entries()) assert.deepEqual(direct[user.userId], [roomIds[i]]);
      assertJunkKept(direct);
      assert.deepEqual(await bot.getDmRooms(), { "@someone:elsewhere.example": ["!a:elsewhere.example", "!b:elsewhere.example"], ...Object.fromEntries(users.map((u, i) => [u.userId, [roomIds[i]]])) });
      const writes = [...counter.counts].filter(([key]) => /^PUT .*account_data\/m\.direct$/.test(key)).reduce((n, [, c]) => n + c, 0);
      assert.ok(writes >= 1 && writes <= 20, `m.direct written ${writes} times`);
    } finally {
      await bot.stop();
    }
  });

  test("an invite flagged is_direct is joined and recorded under the inviter; a plain invite is not", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await (await botApi(account)).accountData.put(account.userId, "m.direct", junkDirect(human.userId));
    await bot.start({ password: account.password });
    try {
      const plain = await human.createRoom([account.userId]);
      const dm = await human.createRoom([account.userId], { preset: "trusted_private_chat", is_direct: true });
      await until(async () => ((await serverDirect(account))[human.userId] as string[]).includes(dm), "the DM is recorded");
      await until(() => bot.getRoom(plain)?.membership === "join", "the bot joins the plain room");
      const direct = await serverDirect(account);
      assert.deepEqual(direct[human.userId], ["!dead-room:localhost", dm]);
      assertJunkKept(direct, human.userId);

      await bot.sendMessage(human.userId, "in the room you opened");
      await human.waitForEvent((e) => e.room_id === dm && e.content.body === "in the room you opened");
      assert.equal(await bot.isDm(dm), true);
      assert.equal(await bot.isDm(plain), false);
    } finally {
      await bot.stop();
    }
  });

  test("a 5xx while checking a candidate surfaces or is retried, and never creates a duplicate", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    let roomId: string;
    try {
      // A named room: sync then loads no member events for the name's sake (it does for unnamed rooms' heroes).
      ({ roomId } = await bot.createDmRoom(human.userId, { name: "Support" }));
      await bot.sendMessage(human.userId, "hello");
      await joinAndRead(human, roomId, "hello", bot);
      await bot.sendMessage(human.userId, "the last event is mine");
    } finally {
      await bot.stop();
    }
    // A new login with a one-event timeline: lazy loading leaves the human's member event unknown.
    const rules = [{ method: "GET", path: /\/members$/, times: 3, fault: { kind: "status" as const, status: 502, body: { errcode: "M_UNKNOWN" } } }];
    const faults = faultyFetch(rules);
    const counter = countingFetch();
    const { bot: fresh } = await newBot(
      {
        fetch: (input, init) => (new URL(input).pathname.endsWith("/members") ? faults.fetch(input, init) : counter.fetch(input, init)),
        retry: { maxTransientRetries: 2, initialBackoffMs: 5, maxBackoffMs: 10 },
        syncFilter: { room: { state: { lazy_load_members: true }, timeline: { limit: 1, lazy_load_members: true } } },
      },
      account,
    );
    await fresh.start({ password: account.password });
    try {
      assert.equal(fresh.getRoom(roomId)?.member(human.userId), undefined, "the setup must leave the member unknown");
      counter.reset();
      await assert.rejects(fresh.sendMessage(human.userId, "during the outage"), (e: unknown) => e instanceof MatrixError && e.status === 502);
      assert.equal(counter.counts.get("POST /_matrix/client/v3/createRoom"), undefined);
      assert.equal(faults.log.length, 3, "one request and two retries");

      rules[0]!.times = 1; // one more 502: the transport's retry absorbs it
      await fresh.sendMessage(human.userId, "after the outage");
      await human.waitForEvent((e) => e.room_id === roomId && e.content.body === "after the outage");
      assert.equal(counter.counts.get("POST /_matrix/client/v3/createRoom"), undefined);
      assert.deepEqual(await fresh.getDmRooms(human.userId), [roomId]);

      counter.reset();
      const before = faults.log.length;
      await fresh.sendMessage(human.userId, "cached");
      assert.equal(faults.log.length, before, "the server's verdict is cached");
      assert.deepEqual(nonSync(counter.counts), { "PUT /_matrix/client/v3/rooms/*/send/m.room.message/*": 1 });
    } finally {
      await fresh.stop();
    }
  });

  test("a createRoom whose response is lost is adopted from sync, not created twice", async () => {
    const human = await newTestUser();
    const counter = countingFetch();
    const faults = faultyFetch([{ method: "POST", path: /\/createRoom$/, times: 1, fault: { kind: "dropAfter" } }], counter.fetch);
    const { bot, account } = await newBot({ fetch: faults.fetch });
    await (await botApi(account)).accountData.put(account.userId, "m.direct", junkDirect());
    await bot.start({ password: account.password });
    try {
      await bot.sendMessage(human.userId, "despite the lost response");
      assert.equal(counter.counts.get("POST /_matrix/client/v3/createRoom"), 1);
      const rooms = await bot.getDmRooms(human.userId);
      assert.equal(rooms.length, 1);
      const direct = await serverDirect(account);
      assert.deepEqual(direct[human.userId], rooms);
      assertJunkKept(direct);
      await joinAndRead(human, rooms[0] as string, "despite the lost response", bot);
    } finally {
      await bot.stop();
    }
  });

  test("a tombstoned DM is followed to its replacement when the bot is in it", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      await bot.sendMessage(human.userId, "old room");
      const [oldRoom] = (await bot.getDmRooms(human.userId)) as [string];
      await joinAndRead(human, oldRoom, "old room", bot);
      const { replacement_room: newRoom } = await human.api.http.request<{ replacement_room: string }>({
        method: "POST",
        path: `/_matrix/client/v3/rooms/${encodeURIComponent(oldRoom)}/upgrade`,
        body: { new_version: "10" },
      });
      await human.api.rooms.invite(newRoom, account.userId);
      await until(() => bot.getRoom(oldRoom)?.tombstone !== undefined && bot.getRoom(newRoom)?.membership === "join", "the bot joins the upgrade");
      await bot.sendMessage(human.userId, "new room");
      await human.waitForEvent((e) => e.room_id === newRoom && e.content.body === "new room");
      assert.deepEqual((await serverDirect(account))[human.userId], [oldRoom, newRoom]);
    } finally {
      await bot.stop();
    }
  });

  test("createDmRoom makes a new room each time; dmEncryption adds m.room.encryption", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ dmEncryption: true });
    await bot.start({ password: account.password });
    try {
      const encrypted = await bot.createDmRoom(human.userId);
      const plain = await bot.createDmRoom(human.userId, { encrypted: false });
      assert.notEqual(encrypted.roomId, plain.roomId);
      assert.equal(plain.userId, human.userId);
      assert.deepEqual(await bot.api.rooms.getState(encrypted.roomId, "m.room.encryption"), { algorithm: "m.megolm.v1.aes-sha2" });
      await assert.rejects(bot.api.rooms.getState(plain.roomId, "m.room.encryption"), (e: unknown) => e instanceof MatrixError && e.status === 404);
      assert.deepEqual(await bot.getDmRooms(human.userId), [encrypted.roomId, plain.roomId]);
      assert.equal(await bot.dms.resolve(human.userId), plain.roomId, "the newest DM is used");
      await assert.rejects(bot.sendMessage(account.userId, "me"), TypeError);
    } finally {
      await bot.stop();
    }
  });

  test("examples/direct-messages.ts: dm, get-dm-rooms, create-dm-room", async () => {
    const human = await newTestUser();
    const account = await newUser("dmbot");
    const hs = await homeserver();
    const { bot, credentials } = createDmBot(
      { MATRIX_HOMESERVER: hs.baseUrl, MATRIX_USER_ID: account.userId, MATRIX_PASSWORD: account.password },
      { handleSignals: false, logger: consoleLogger("silent") },
    );
    await bot.start(credentials);
    try {
      const roomId = await human.createRoom([account.userId]);
      await until(() => bot.getRoom(roomId)?.membership === "join", "the bot joins");
      const ask = async (command: string): Promise<string> => {
        const eventId = await human.send(roomId, command);
        const reply = await human.waitForEvent((e) => e.room_id === roomId && e.sender === account.userId && (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === eventId);
        return reply.content.body as string;
      };
      assert.equal(await ask("!get-dm-rooms"), "You don't have any direct rooms!");

      await human.send(roomId, "!dm");
      const dmRoom = await human.waitForInvite();
      assert.equal((await inviteMemberContent(human, dmRoom))?.is_direct, true);
      await joinAndRead(human, dmRoom, "Hello, world!", bot);

      assert.equal(await ask("!get-dm-rooms"), `Your 1 direct rooms:\n* https://matrix.to/#/${dmRoom}`);
      const created = /^Created direct room: https:\/\/matrix\.to\/#\/(!\S+)$/.exec(await ask("!create-dm-room"));
      assert.ok(created?.[1]);
      assert.notEqual(created[1], dmRoom);
      assert.deepEqual(await bot.getDmRooms(human.userId), [dmRoom, created[1]]);
    } finally {
      await bot.stop();
    }
  });
});
