import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  buildEditContent,
  buildMessageContent,
  buildReactionContent,
  replyTargetFromEvent,
  withEmojiPresentation,
} from "../../src/content/message.js";
import { mentionPill } from "../../src/content/mentions.js";

const ALICE = "@alice:example.org";
const BOB = "@bob:example.org";
const BOT = "@bot:example.org";

describe("buildMessageContent: basics", () => {
  it("plain text: m.notice, no formatted_body, empty m.mentions", () => {
    assert.deepEqual(buildMessageContent("hello"), { msgtype: "m.notice", body: "hello", "m.mentions": {} });
  });

  it("markdown", () => {
    assert.deepEqual(buildMessageContent("**hi**", { msgtype: "m.text" }), {
      msgtype: "m.text",
      body: "**hi**",
      format: "org.matrix.custom.html",
      formatted_body: "<strong>hi</strong>",
      "m.mentions": {},
    });
  });

  it("html format: sanitised, body derived", () => {
    assert.deepEqual(buildMessageContent('<p>Hi <b onclick="x">there</b></p><ul><li>a</li></ul>', { format: "html", msgtype: "m.emote" }), {
      msgtype: "m.emote",
      body: "Hi there\n\n- a",
      format: "org.matrix.custom.html",
      formatted_body: "<p>Hi <b>there</b></p><ul><li>a</li></ul>",
      "m.mentions": {},
    });
  });

  it("raw-html format is sent as given", () => {
    const c = buildMessageContent("<x-custom>hi</x-custom>", { format: "raw-html" });
    assert.equal(c.formatted_body, "<x-custom>hi</x-custom>");
    assert.equal(c.body, "hi");
  });

  it("plain format never formats", () => {
    assert.deepEqual(buildMessageContent("**not bold** <b>", { format: "plain" }), {
      msgtype: "m.notice",
      body: "**not bold** <b>",
      "m.mentions": {},
    });
  });
});

describe("buildMessageContent: replies and threads", () => {
  it("a reply: m.in_reply_to only, no fallback, replied-to sender mentioned", () => {
    const content = buildMessageContent("Sounds good", { msgtype: "m.text", replyTo: { eventId: "$orig", sender: ALICE } });
    assert.equal(
      JSON.stringify(content),
      JSON.stringify({
        msgtype: "m.text",
        body: "Sounds good",
        "m.mentions": { user_ids: [ALICE] },
        "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } },
      }),
    );
  });

  it("a reply that should not notify", () => {
    const c = buildMessageContent("ok", { replyTo: { eventId: "$e", sender: ALICE, mentionSender: false } });
    assert.deepEqual(c["m.mentions"], {});
  });

  it("replying to yourself does not self-mention", () => {
    const c = buildMessageContent("ok", { replyTo: { eventId: "$e", sender: BOT }, ownUserId: BOT });
    assert.deepEqual(c["m.mentions"], {});
  });

  it("a message in a thread carries the reply fallback for unthreaded clients", () => {
    assert.deepEqual(buildMessageContent("in thread", { thread: { rootId: "$root", latestEventId: "$latest" } }), {
      msgtype: "m.notice",
      body: "in thread",
      "m.mentions": {},
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: "$root",
        "m.in_reply_to": { event_id: "$latest" },
        is_falling_back: true,
      },
    });
  });

  it("without a known latest event the fallback points at the root", () => {
    const c = buildMessageContent("x", { thread: { rootId: "$root" } });
    assert.deepEqual(c["m.relates_to"], { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$root" }, is_falling_back: true });
  });

  it("a reply to a threaded message stays in the thread as a real reply", () => {
    const event = { event_id: "$msg", sender: ALICE, content: { body: "q", "m.relates_to": { rel_type: "m.thread", event_id: "$root" } } };
    assert.deepEqual(buildMessageContent("answer", { replyTo: replyTargetFromEvent(event) }), {
      msgtype: "m.notice",
      body: "answer",
      "m.mentions": { user_ids: [ALICE] },
      "m.relates_to": { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$msg" }, is_falling_back: false },
    });
  });

  it("thread + replyTo combine; conflicting roots are an error", () => {
    const c = buildMessageContent("x", { thread: { rootId: "$root" }, replyTo: { eventId: "$m" } });
    assert.deepEqual(c["m.relates_to"], { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$m" }, is_falling_back: false });
    assert.throws(() => buildMessageContent("x", { thread: { rootId: "$a" }, replyTo: { eventId: "$m", threadRootId: "$b" } }), RangeError);
  });

  it("replyTargetFromEvent ignores non-thread relations and junk", () => {
    assert.deepEqual(replyTargetFromEvent({ event_id: "$e", sender: ALICE, content: { "m.relates_to": { rel_type: "m.replace", event_id: "$x" } } }), { eventId: "$e", sender: ALICE });
    assert.deepEqual(replyTargetFromEvent({ event_id: "$e", sender: ALICE, content: "junk" }), { eventId: "$e", sender: ALICE });
  });
});

describe("buildMessageContent: mentions", () => {
  it("detects pills and bare IDs by default, never @room", () => {
    const pill = mentionPill(ALICE, "Alice");
    const c = buildMessageContent(`${pill.html} and ${BOB}, @room`);
    assert.deepEqual(c["m.mentions"], { user_ids: [ALICE, BOB] });
    assert.equal(c.body, `Alice and ${BOB}, @room`);
  });

  it("explicit mentions replace detection", () => {
    const c = buildMessageContent(`hi ${BOB}`, { mentions: { userIds: [ALICE] } });
    assert.deepEqual(c["m.mentions"], { user_ids: [ALICE] });
  });

  it("explicit {} mentions nobody", () => {
    assert.deepEqual(buildMessageContent(`hi ${BOB}`, { mentions: {} })["m.mentions"], {});
  });

  it("room only when asked, combinable with detection", () => {
    const c = buildMessageContent(`hi ${BOB}`, { mentions: { room: true, detect: true } });
    assert.deepEqual(c["m.mentions"], { user_ids: [BOB], room: true });
  });

  it("reply sender is added to explicit mentions, deduplicated", () => {
    const c = buildMessageContent("x", { mentions: { userIds: [ALICE, BOB] }, replyTo: { eventId: "$e", sender: ALICE } });
    assert.deepEqual(c["m.mentions"], { user_ids: [ALICE, BOB] });
  });

  it("ids inside code are not mentions", () => {
    assert.deepEqual(buildMessageContent(`\`${ALICE}\``)["m.mentions"], {});
  });

  it("rejects malformed explicit IDs", () => {
    assert.throws(() => buildMessageContent("x", { mentions: { userIds: ["alice"] } }), RangeError);
  });
});

describe("buildMessageContent: override", () => {
  it("deep-merges objects, replaces other values, deletes on undefined", () => {
    const override = {
      "m.relates_to": { is_falling_back: false },
      "m.mentions": { user_ids: [BOB] },
      "com.example.extra": { nested: [1, 2] },
      format: undefined,
      formatted_body: undefined,
    };
    const c = buildMessageContent(`**hi** ${ALICE}`, { thread: { rootId: "$root" }, override });
    assert.deepEqual(c, {
      msgtype: "m.notice",
      body: `**hi** ${ALICE}`,
      "m.mentions": { user_ids: [BOB] },
      "m.relates_to": { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$root" }, is_falling_back: false },
      "com.example.extra": { nested: [1, 2] },
    });
    override["com.example.extra"].nested.push(3);
    assert.deepEqual(c["com.example.extra"], { nested: [1, 2] });
  });

  it("ignores __proto__ keys", () => {
    const c = buildMessageContent("x", { override: JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown> });
    assert.equal(Object.getPrototypeOf(c), Object.prototype);
    assert.equal((c as Record<string, unknown>).polluted, undefined);
  });
});

describe("buildEditContent", () => {
  it("matches the spec's edit shape, notifying only newly mentioned users", () => {
    const content = buildEditContent("$orig", `Hello ${mentionPill(ALICE, "Alice").html} & ${mentionPill(BOB, "Bob").html}!`, {
      msgtype: "m.text",
      previousMentions: { user_ids: [ALICE] },
    });
    const html = 'Hello <a href="https://matrix.to/#/@alice:example.org">Alice</a> &amp; <a href="https://matrix.to/#/@bob:example.org">Bob</a>!';
    assert.deepEqual(content, {
      msgtype: "m.text",
      body: "* Hello Alice & Bob!",
      format: "org.matrix.custom.html",
      formatted_body: `* ${html}`,
      "m.mentions": { user_ids: [BOB] },
      "m.new_content": {
        msgtype: "m.text",
        body: "Hello Alice & Bob!",
        format: "org.matrix.custom.html",
        formatted_body: html,
        "m.mentions": { user_ids: [ALICE, BOB] },
      },
      "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
    });
  });

  it("plain edit without previous mentions notifies nobody", () => {
    assert.deepEqual(buildEditContent("$orig", `fixed typo ${ALICE}`), {
      msgtype: "m.notice",
      body: `* fixed typo ${ALICE}`,
      "m.mentions": {},
      "m.new_content": { msgtype: "m.notice", body: `fixed typo ${ALICE}`, "m.mentions": { user_ids: [ALICE] } },
      "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
    });
  });

  it("previous mentions of {} (nobody) make every mention of the edit new", () => {
    const c = buildEditContent("$o", `now for ${ALICE}`, { previousMentions: {} });
    assert.deepEqual(c["m.mentions"], { user_ids: [ALICE] });
  });

  it("a newly added @room notifies; a removed mention appears nowhere", () => {
    const c = buildEditContent("$o", "all hands", { mentions: { room: true }, previousMentions: { user_ids: [ALICE] } });
    assert.deepEqual(c["m.mentions"], { room: true });
    assert.deepEqual(c["m.new_content"]["m.mentions"], { room: true });
  });

  it("override goes into m.new_content", () => {
    const c = buildEditContent("$o", "x", { override: { "com.example.extension_property": "chocolate" } });
    assert.equal(c["m.new_content"]["com.example.extension_property"], "chocolate");
    assert.equal(c["com.example.extension_property"], undefined);
  });
});

describe("buildReactionContent", () => {
  it("an m.annotation", () => {
    assert.deepEqual(buildReactionContent("$ev", "👍"), { "m.relates_to": { rel_type: "m.annotation", event_id: "$ev", key: "👍" } });
  });

  it("adds the emoji presentation selector where the spec asks for it", () => {
    assert.equal(buildReactionContent("$ev", "❤")["m.relates_to"].key, "❤\uFE0F");
    assert.equal(buildReactionContent("$ev", "❤", { normalize: false })["m.relates_to"].key, "❤");
    assert.equal(withEmojiPresentation("❤\uFE0F"), "❤\uFE0F");
    assert.equal(withEmojiPresentation("✔"), "✔\uFE0F");
    assert.equal(withEmojiPresentation("1"), "1");
    assert.equal(withEmojiPresentation("ok"), "ok");
    assert.equal(withEmojiPresentation("👍🏽"), "👍🏽");
  });

  it("rejects an empty key", () => {
    assert.throws(() => buildReactionContent("$ev", ""), RangeError);
  });
});
