/**
 * Room and account management against a real homeserver: membership with
 * reasons, state, the per-room display name, account data, profile and
 * presence, each read back by another account or straight from the server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import { sleep } from "../../src/util/async.js";
import { homeserver, newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

describe("messaging: rooms and account", () => {
  let bot: NioBot;
  let watcher: TestUser;
  let target: TestUser;
  let roomId: string;
  const errors: unknown[] = [];

  /** The member event of `userId` with `membership` that the watcher receives. */
  const memberEvent = (userId: string, membership: string): Promise<ClientEvent> =>
    watcher.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.member" && e.state_key === userId && e.content.membership === membership);

  before(async () => {
    watcher = await newTestUser("watcher");
    target = await newTestUser("target");
    const made = await newBot();
    bot = made.bot;
    bot.on("error", (error) => void errors.push(error));
    await bot.start({ password: made.account.password });
    // The bot's own room, so that it has the power to moderate.
    ({ room_id: roomId } = await bot.api.rooms.create({ preset: "private_chat", invite: [watcher.userId] }));
    await watcher.api.rooms.join(roomId);
  });

  after(async () => {
    await bot.stop();
    assert.deepEqual(errors, []);
  });

  test("invite, kick, ban and unban carry their reasons", async () => {
    await bot.roomsApi.invite(roomId, target.userId, "come in");
    assert.equal((await memberEvent(target.userId, "invite")).content.reason, "come in");
    await target.api.rooms.join(roomId);
    await memberEvent(target.userId, "join");
    await bot.roomsApi.kick(roomId, target.userId, "too loud");
    assert.deepEqual(pick(await memberEvent(target.userId, "leave")), { membership: "leave", reason: "too loud", sender: bot.userId });
    await bot.roomsApi.ban(roomId, target.userId, "spam");
    assert.deepEqual(pick(await memberEvent(target.userId, "ban")), { membership: "ban", reason: "spam", sender: bot.userId });
    await bot.roomsApi.unban(roomId, target.userId, "second chance");
    const unbanned = await watcher.waitForEvent((e) => e.type === "m.room.member" && e.state_key === target.userId && e.content.reason === "second chance");
    assert.equal(unbanned.content.membership, "leave");
  });

  test("room state: put, get, and undefined for none", async () => {
    const id = await bot.roomsApi.putState(roomId, "org.example.config", "k", { v: 1 });
    const event = await watcher.waitForEvent((e) => e.event_id === id);
    assert.deepEqual([event.type, event.state_key, event.content], ["org.example.config", "k", { v: 1 }]);
    assert.deepEqual(await bot.roomsApi.getState(roomId, "org.example.config", "k"), { v: 1 });
    assert.equal(await bot.roomsApi.getState(roomId, "org.example.config", "missing"), undefined);
  });

  test("per-room display name keeps the rest of the member content; the global profile is untouched", async () => {
    await bot.accountApi.setDisplayName("Helper Bot");
    await bot.accountApi.setAvatarUrl("mxc://localhost/avatar");
    assert.deepEqual(await watcher.api.profile.get(bot.userId), { displayname: "Helper Bot", avatar_url: "mxc://localhost/avatar" });
    // The server rewrites the bot's member event with the new profile; wait until the bot's sync has it.
    for (let i = 0; bot.getRoom(roomId)?.getState<{ avatar_url?: string }>("m.room.member", bot.userId)?.avatar_url !== "mxc://localhost/avatar"; i++) {
      assert.ok(i < 100, "the bot never saw its updated member event");
      await sleep(100);
    }
    const id = await bot.roomsApi.setDisplayName(roomId, "Room Helper");
    const event = await watcher.waitForEvent((e) => e.event_id === id);
    assert.deepEqual(event.content, { membership: "join", displayname: "Room Helper", avatar_url: "mxc://localhost/avatar" });
    assert.equal((await bot.accountApi.getProfile()).displayname, "Helper Bot");
  });

  test("account data, global and per room: written, read back from the server", async () => {
    const type = `org.example.settings.${randomBytes(3).toString("hex")}`;
    assert.equal(await bot.accountApi.getAccountData(type), undefined);
    await bot.accountApi.putAccountData(type, { lang: "en" });
    assert.deepEqual(await bot.api.accountData.get(bot.userId, type), { lang: "en" });
    assert.deepEqual(await bot.accountApi.getAccountData(type), { lang: "en" });

    assert.equal(await bot.roomsApi.getAccountData(roomId, type), undefined);
    await bot.roomsApi.putAccountData(roomId, type, { muted: true });
    assert.deepEqual(await bot.api.accountData.getRoom(bot.userId, roomId, type), { muted: true });
    assert.deepEqual(await bot.roomsApi.getAccountData(roomId, type), { muted: true });
  });

  test("join by alias with via, and leave with a reason", async () => {
    const hs = await homeserver();
    const alias = `lobby-${randomBytes(4).toString("hex")}`;
    const { room_id: lobby } = await watcher.api.rooms.create({ preset: "public_chat", room_alias_name: alias });
    const joined = await bot.roomsApi.join(`#${alias}:${hs.serverName}`, { via: [hs.serverName] });
    assert.equal(joined, lobby);
    await watcher.waitForEvent((e) => e.room_id === lobby && e.type === "m.room.member" && e.state_key === bot.userId && e.content.membership === "join");
    await bot.roomsApi.leave(lobby, "see you");
    const left = await watcher.waitForEvent((e) => e.room_id === lobby && e.type === "m.room.member" && e.state_key === bot.userId && e.content.membership === "leave");
    assert.equal(left.content.reason, "see you");
  });
  test("presence (last: it stops the bot's sync first)", async () => {
    // Synapse counts every /sync without `set_presence` as "online" again, so
    // the bot's own sync loop would race this check; see the AccountApi note.
    await bot.stop();
    await bot.accountApi.setPresence("unavailable", "busy thinking");
    const seen = await watcher.api.profile.getPresence(bot.userId);
    assert.equal(seen.presence, "unavailable");
    assert.equal(seen.status_msg, "busy thinking");
    assert.equal((await bot.accountApi.getPresence()).status_msg, "busy thinking");
  });

  test("the presence option keeps a syncing bot at the presence it asked for", async () => {
    const { bot: away, account } = await newBot({ presence: "unavailable", syncTimeoutMs: 500 });
    await away.start({ password: account.password });
    try {
      await sleep(1_500); // several syncs, each carrying set_presence
      assert.equal((await away.accountApi.getPresence()).presence, "unavailable");
    } finally {
      await away.stop();
    }
  });
});

function pick(event: ClientEvent): Record<string, unknown> {
  return { membership: event.content.membership, reason: event.content.reason, sender: event.sender };
}
