/**
 * Messaging against a real homeserver: a human account reads back the exact
 * content of everything the bot sends (formats, msgtypes, replies, threads,
 * mentions, edits, redactions, reactions), and the bot surfaces incoming
 * edits, reactions and redactions as typed events.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ClientEvent } from "../../src/api/events.js";
import type { NioBot } from "../../src/bot/bot.js";
import { buildMessageContent } from "../../src/content/message.js";
import { WORD_JOINER, neutralizeMentions } from "../../src/content/mentions.js";
import { EditRefusedError, currentContent } from "../../src/messaging/index.js";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { countingFetch, newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

/** Requests whose `METHOD path` matches (event ids in paths are percent-encoded, so match loosely). */
function requests(counter: ReturnType<typeof countingFetch>, pattern: RegExp): number {
  let n = 0;
  for (const [key, count] of counter.counts) if (pattern.test(key)) n += count;
  return n;
}
const RELATIONS = /^GET \/_matrix\/client\/v1\/rooms\/[^/]+\/relations\/[^/]+\/m\.annotation\/m\.reaction$/;
const SENDS = /^PUT \/_matrix\/client\/v3\/rooms\/[^/]+\/send\/m\.room\.message\//;

describe("messaging: sending", () => {
  let human: TestUser;
  let other: TestUser;
  let bot: NioBot;
  let botId: string;
  let roomId: string;
  let account: RegisteredUser;
  const counter = countingFetch();
  const errors: unknown[] = [];

  /** What the human receives for an event the bot sent. */
  const received = (eventId: string): Promise<ClientEvent> => human.waitForEvent((e) => e.event_id === eventId);
  const gets = (): number => requests(counter, /^GET \/_matrix\/client\/v3\/rooms\/[^/]+\/event\//);

  before(async () => {
    human = await newTestUser("human");
    other = await newTestUser("other");
    const made = await newBot({ fetch: counter.fetch });
    bot = made.bot;
    account = made.account;
    botId = bot.userId;
    bot.on("error", (error) => void errors.push(error));
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([botId, other.userId]);
    await joined;
    await other.api.rooms.join(roomId);
  });

  after(async () => {
    await bot.stop();
    assert.deepEqual(errors, []);
  });

  test("markdown (default), plain, sanitised HTML, raw HTML; m.notice, m.text, m.emote; override last", async () => {
    const cases: [string, Parameters<NioBot["sendMessage"]>[2]][] = [
      ["**bold** and `code`", {}],
      ["plain <b>not bold</b>", { format: "plain", msgtype: "m.text" }],
      ['<b onclick="alert(1)">hi</b><script>alert(1)</script> <a href="javascript:alert(1)">link</a> <a href="https://example.org">ok</a>', { format: "html" }],
      ['<font color="#ff0000">red</font>', { format: "raw-html" }],
      ["waves", { msgtype: "m.emote" }],
      ["custom", { override: { "org.example.extra": { n: 1 }, msgtype: "m.text" } }],
    ];
    for (const [text, options] of cases) {
      const id = await bot.sendMessage(roomId, text, options);
      const event = await received(id);
      assert.equal(event.type, "m.room.message");
      assert.deepEqual(event.content, buildMessageContent(text, { msgtype: "m.notice", ownUserId: botId, ...options }), text);
    }
    const sanitised = human.seen.find((e) => e.content.format === "org.matrix.custom.html" && String(e.content.formatted_body).includes("hi"));
    assert.equal(sanitised?.content.formatted_body, '<b>hi</b> link <a href="https://example.org">ok</a>');
    const raw = human.seen.find((e) => String(e.content.formatted_body).includes("<font"));
    assert.equal(raw?.content.formatted_body, '<font color="#ff0000">red</font>', "raw HTML goes out as written");
    const custom = human.seen.find((e) => e.content.body === "custom");
    assert.deepEqual(custom?.content, { msgtype: "m.text", body: "custom", "m.mentions": {}, "org.example.extra": { n: 1 } });
  });

  test("a content object goes out as given; reply options add the relation and mentions", async () => {
    const image = { msgtype: "m.image", body: "cat.png", url: "mxc://localhost/cat", info: { mimetype: "image/png" } };
    const plainId = await bot.sendMessage(roomId, image);
    assert.deepEqual((await received(plainId)).content, image);
    const question = await human.send(roomId, "a cat please");
    const replyId = await bot.reply(await bot.fetchMessage(roomId, question), image);
    assert.deepEqual((await received(replyId)).content, {
      ...image,
      "m.mentions": { user_ids: [human.userId] },
      "m.relates_to": { "m.in_reply_to": { event_id: question } },
    });
  });

  test("defaultMsgtype applies to text without an explicit msgtype", async () => {
    const { bot: texter, account } = await newBot({ defaultMsgtype: "m.text", autoJoin: false });
    await texter.start({ password: account.password });
    try {
      await human.api.rooms.invite(roomId, texter.userId);
      await texter.roomsApi.join(roomId);
      const id = await texter.sendMessage(roomId, "hello");
      assert.deepEqual((await received(id)).content, { msgtype: "m.text", body: "hello", "m.mentions": {} });
    } finally {
      await texter.stop();
    }
  });

  test("reply: m.in_reply_to only, no fallback, the sender mentioned", async () => {
    const question = await human.send(roomId, "what time is it?");
    const id = await bot.reply(await bot.fetchMessage(roomId, question), "**noon**");
    assert.deepEqual((await received(id)).content, {
      msgtype: "m.notice",
      body: "**noon**",
      format: "org.matrix.custom.html",
      formatted_body: "<strong>noon</strong>",
      "m.mentions": { user_ids: [human.userId] },
      "m.relates_to": { "m.in_reply_to": { event_id: question } },
    });
    const quiet = await bot.reply(await bot.fetchMessage(roomId, question), "shh", { mentionSender: false, format: "plain" });
    assert.deepEqual((await received(quiet)).content["m.mentions"], {});
  });

  test("threads: a reply stays in the thread; thread: true and sendThreadMessage carry the fallback to the latest event", async () => {
    const root = await human.send(roomId, "thread root");
    const inThread = await human.send(roomId, "in the thread", { "m.relates_to": { rel_type: "m.thread", event_id: root } });

    const replyId = await bot.reply(await bot.fetchMessage(roomId, inThread), "reply in thread", { format: "plain" });
    assert.deepEqual((await received(replyId)).content["m.relates_to"], {
      rel_type: "m.thread", event_id: root, "m.in_reply_to": { event_id: inThread }, is_falling_back: false,
    });

    const mainReply = await bot.reply(await bot.fetchMessage(roomId, inThread), "out of the thread", { thread: false, format: "plain" });
    assert.deepEqual((await received(mainReply)).content["m.relates_to"], { "m.in_reply_to": { event_id: inThread } });

    const question = await human.send(roomId, "start a thread here");
    const started = await bot.reply(await bot.fetchMessage(roomId, question), "answer in a new thread", { thread: true, format: "plain" });
    const startedEvent = await received(started);
    assert.deepEqual(startedEvent.content["m.relates_to"], {
      rel_type: "m.thread", event_id: question, "m.in_reply_to": { event_id: question }, is_falling_back: true,
    });
    assert.deepEqual(startedEvent.content["m.mentions"], { user_ids: [human.userId] });

    // The fallback points at the latest event of the thread the bot knows: its own previous message.
    const next = await bot.sendThreadMessage(roomId, question, "second message", { format: "plain" });
    assert.deepEqual((await received(next)).content, {
      msgtype: "m.notice",
      body: "second message",
      "m.mentions": {},
      "m.relates_to": { rel_type: "m.thread", event_id: question, "m.in_reply_to": { event_id: started }, is_falling_back: true },
    });

    const edited = await human.send(roomId, "* x", { "m.new_content": { msgtype: "m.text", body: "x" }, "m.relates_to": { rel_type: "m.replace", event_id: question } });
    await assert.rejects(bot.reply(await bot.fetchMessage(roomId, edited), "no", { thread: true }), /cannot start a thread/);
  });

  test("mentions: explicit, detected, @room only when asked, and neutralised echoes notify no one", async () => {
    const explicit = await bot.sendMessage(roomId, "hey you", { mentions: { userIds: [other.userId] } });
    assert.deepEqual((await received(explicit)).content["m.mentions"], { user_ids: [other.userId] });
    const detected = await bot.sendMessage(roomId, `ping ${human.userId}`, { format: "plain" });
    assert.deepEqual((await received(detected)).content["m.mentions"], { user_ids: [human.userId] });
    const noRoom = await bot.sendMessage(roomId, "@room not really", { format: "plain" });
    assert.deepEqual((await received(noRoom)).content["m.mentions"], {});
    const room = await bot.sendMessage(roomId, "@room listen", { format: "plain", mentions: { room: true } });
    assert.deepEqual((await received(room)).content["m.mentions"], { room: true });

    // Notifications as the server computes them: an echoed (neutralised) ID highlights nobody.
    const highlights = async (): Promise<number> => {
      // A fresh filter each time: Synapse briefly caches identical sync requests.
      const filter = JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 1 } }, account_data: { not_types: [`${Math.random()}`] } });
      const sync = await human.api.sync.sync({ timeout: 0, filter });
      return sync.rooms?.join?.[roomId]?.unread_notifications?.highlight_count ?? 0;
    };
    await human.api.rooms.receipt(roomId, room);
    // m.text: the default m.notice never notifies (push rule .m.rule.suppress_notices).
    const echo = await bot.sendMessage(roomId, neutralizeMentions(`you said: @room ${human.userId}`), { format: "plain", msgtype: "m.text" });
    const echoed = await received(echo);
    assert.deepEqual(echoed.content["m.mentions"], {});
    assert.ok(String(echoed.content.body).includes(`@${WORD_JOINER}`));
    assert.equal(await highlights(), 0, "a neutralised echo must not highlight");
    await received(await bot.sendMessage(roomId, `really: ${human.userId}`, { format: "plain", msgtype: "m.text" }));
    assert.equal(await highlights(), 1, "a real mention highlights");
  });

  test("edits: m.replace with m.new_content, keeping the msgtype; only the bot's own messages", async () => {
    const original = await bot.sendMessage(roomId, "draft", { msgtype: "m.text", format: "plain" });
    const before = gets();
    const editId = await bot.edit(roomId, original, `final **answer** for ${other.userId}`);
    assert.equal(gets(), before, "the bot's own message is cached: no GET");
    assert.deepEqual((await received(editId)).content, {
      msgtype: "m.text",
      body: `* final **answer** for ${other.userId}`,
      format: "org.matrix.custom.html",
      formatted_body: `* final <strong>answer</strong> for ${other.userId}`,
      "m.mentions": { user_ids: [other.userId] },
      "m.new_content": {
        msgtype: "m.text",
        body: `final **answer** for ${other.userId}`,
        format: "org.matrix.custom.html",
        formatted_body: `final <strong>answer</strong> for ${other.userId}`,
        "m.mentions": { user_ids: [other.userId] },
      },
      "m.relates_to": { rel_type: "m.replace", event_id: original },
    });
    // A second edit notifies only users not mentioned by the current version.
    const again = await bot.edit(roomId, original, `final for ${other.userId} and ${human.userId}`, { format: "plain" });
    assert.deepEqual((await received(again)).content["m.mentions"], { user_ids: [human.userId] });

    const humans = await human.send(roomId, "mine");
    await assert.rejects(bot.edit(roomId, humans, "hijacked"), (e: unknown) => {
      assert.ok(e instanceof EditRefusedError);
      assert.match(e.message, /sent by @human-/);
      return true;
    });
    bot.messaging.cache.clear();
    const sends = requests(counter, SENDS);
    const fetches = gets();
    await assert.rejects(bot.edit(roomId, humans, "hijacked"), EditRefusedError);
    assert.equal(gets(), fetches + 1, "an uncached event is fetched once to check its sender");
    assert.equal(requests(counter, SENDS), sends, "nothing was sent");
    await assert.rejects(bot.edit(roomId, editId, "edit of an edit"), /edit itself/);
  });

  test("redaction with a reason", async () => {
    const id = await bot.sendMessage(roomId, "oops");
    const redaction = await bot.redact(roomId, id, "posted by mistake");
    const event = await received(redaction);
    assert.equal(event.type, "m.room.redaction");
    assert.equal(event.content.redacts ?? (event as ClientEvent & { redacts?: string }).redacts, id);
    assert.equal(event.content.reason, "posted by mistake");
  });

  test("reactions: added as m.annotation, removed by redacting the bot's own reaction", async () => {
    const target = await human.send(roomId, "react to me");
    const thumbs = await bot.react(roomId, target, "👍");
    assert.deepEqual((await received(thumbs)).content, { "m.relates_to": { rel_type: "m.annotation", event_id: target, key: "👍" } });
    assert.equal(await bot.react(roomId, target, "👍"), thumbs, "the same reaction twice is one reaction");
    const heart = await bot.react(roomId, target, "❤");
    assert.deepEqual((await received(heart)).content, { "m.relates_to": { rel_type: "m.annotation", event_id: target, key: "❤\uFE0F" } });

    const relationLookups = (): number => requests(counter, RELATIONS);
    const lookups = relationLookups();
    assert.equal(await bot.removeReaction(roomId, target, "👍", "changed my mind"), true);
    assert.equal(relationLookups(), lookups, "a tracked reaction needs no lookup");
    const removal = await human.waitForEvent((e) => e.type === "m.room.redaction" && (e.content.redacts ?? (e as { redacts?: string }).redacts) === thumbs);
    assert.equal(removal.content.reason, "changed my mind");
    assert.equal(await bot.removeReaction(roomId, target, "👍"), false, "already gone");

    // Another process of the same bot does not know the reaction: it finds it through /relations.
    const lookupCounter = countingFetch();
    const { bot: second } = await newBot({ fetch: lookupCounter.fetch, autoJoin: false }, account);
    await second.start({ password: account.password });
    try {
      assert.equal(await second.removeReaction(roomId, target, "❤"), true);
      assert.equal(requests(lookupCounter, RELATIONS), 1);
      await human.waitForEvent((e) => e.type === "m.room.redaction" && (e.content.redacts ?? (e as { redacts?: string }).redacts) === heart);
    } finally {
      await second.stop();
    }
  });

  test("incoming edits, reactions and redactions are typed events; forged edits are dropped", async () => {
    const edits: [string, string, string][] = [];
    bot.on("edit", (_room, event, newContent, originalId) => void edits.push([event.sender, newContent.body, originalId]));
    const original = await human.send(roomId, "tpyo");
    await bot.fetchMessage(roomId, original);
    const forged = { "m.new_content": { msgtype: "m.text", body: "forged" }, "m.relates_to": { rel_type: "m.replace", event_id: original } };
    await other.send(roomId, "* forged", forged);
    const editSeen = bot.waitForEvent("edit", (_r, e) => e.sender === human.userId, 20_000);
    const editId = await human.send(roomId, "* typo", { "m.new_content": { msgtype: "m.text", body: "typo" }, "m.relates_to": { rel_type: "m.replace", event_id: original } });
    const [room, editEvent, newContent, originalId] = await editSeen;
    assert.equal(room.roomId, roomId);
    assert.equal(editEvent.event_id, editId);
    assert.deepEqual(newContent, { msgtype: "m.text", body: "typo" });
    assert.equal(originalId, original);
    assert.deepEqual(edits, [[human.userId, "typo", original]], "the forged edit from another user was not surfaced");
    assert.equal(currentContent(await bot.fetchMessage(roomId, original)).body, "typo");

    const reactionSeen = bot.waitForEvent("reaction", (_r, e) => e.sender === human.userId, 20_000);
    const reactionId = (await human.api.rooms.send(roomId, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: original, key: "🎉" } })).event_id;
    const [, reactionEvent, key, target] = await reactionSeen;
    assert.deepEqual([reactionEvent.event_id, key, target], [reactionId, "🎉", original]);

    const redactionSeen = bot.waitForEvent("redaction", (_r, e) => e.sender === human.userId, 20_000);
    await human.api.rooms.redact(roomId, reactionId, "nope");
    const [, , redacted, reason] = await redactionSeen;
    assert.deepEqual([redacted, reason], [reactionId, "nope"]);
  });

  test("fetchMessage: the cache first, then GET /event, one shape", async () => {
    const id = await human.send(roomId, "fetch me");
    // Listen before sending the edit, or a fast bot could see it first.
    const edited = bot.waitForEvent("edit", (_r, _e, _content, original) => original === id, 20_000);
    const edit = await human.send(roomId, "* fetched", { "m.new_content": { msgtype: "m.text", body: "fetched" }, "m.relates_to": { rel_type: "m.replace", event_id: id } });
    assert.equal((await edited)[1].event_id, edit);
    const before = gets();
    const cached = await bot.fetchMessage(roomId, id);
    assert.equal(gets(), before);
    bot.messaging.cache.clear();
    const fetched = await bot.fetchMessage(roomId, id);
    assert.equal(gets(), before + 1);
    for (const event of [cached, fetched]) {
      assert.equal(event.event_id, id);
      assert.equal(event.room_id, roomId);
      assert.equal(event.sender, human.userId);
      assert.deepEqual(event.content, { msgtype: "m.text", body: "fetch me" });
      assert.equal(currentContent(event).body, "fetched", "the latest edit is bundled either way");
    }
    await bot.fetchMessage(roomId, id);
    assert.equal(gets(), before + 1, "fetched events are cached");
    await assert.rejects(bot.fetchMessage(roomId, "$nope:localhost"), (e: unknown) => (e as { errcode?: string }).errcode === "M_NOT_FOUND");
  });
});
