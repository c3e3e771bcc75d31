/**
 * The pure and timer-driven parts of `src/messaging/`: the LRU, relation
 * parsing, content composition, the message cache, typing reference counts
 * and the receipt batching rules. (Against a real server: test/integration/messaging-*.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ClientEvent } from "../../src/api/events.js";
import { MessageCache } from "../../src/messaging/cache.js";
import { composeMessage, replyMessageOptions } from "../../src/messaging/compose.js";
import { LruMap } from "../../src/messaging/lru.js";
import { OwnReactions } from "../../src/messaging/reactions.js";
import { ReadReceipts } from "../../src/messaging/receipts.js";
import { currentContent, editOf, isValidEditOf, reactionOf, redactedIdOf, threadRootOf } from "../../src/messaging/relations.js";
import { TypingIndicator } from "../../src/messaging/typing.js";

const ROOM = "!r:example.org";
const ME = "@bot:example.org";
const ALICE = "@alice:example.org";

function ev(id: string, content: Record<string, unknown>, extra: Partial<ClientEvent> = {}): ClientEvent {
  return { event_id: id, type: "m.room.message", sender: ALICE, origin_server_ts: 1000, content, room_id: ROOM, ...extra };
}

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("LruMap", () => {
  it("evicts the least recently used entry", () => {
    const lru = new LruMap<string, number>(2);
    lru.set("a", 1).set("b", 2);
    assert.equal(lru.get("a"), 1);
    lru.set("c", 3);
    assert.deepEqual([...lru.keys()], ["a", "c"]);
    assert.equal(lru.peek("b"), undefined);
  });

  it("behaves like a plain least-recently-used model under any sequence of operations", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant("get" as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant("clear" as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const lru = new LruMap<number, number>(capacity);
        let model: number[] = []; // keys, least recently used first
        let n = 0;
        for (const o of ops) {
          if (o.kind === "clear") {
            lru.clear();
            model = [];
          } else if (o.kind === "delete") {
            lru.delete(o.key);
            model = model.filter((k) => k !== o.key);
          } else if (o.kind === "get") {
            const had = model.includes(o.key);
            assert.equal(lru.get(o.key) !== undefined, had);
            if (had) model = [...model.filter((k) => k !== o.key), o.key];
          } else {
            lru.set(o.key, n++);
            model = [...model.filter((k) => k !== o.key), o.key].slice(-capacity);
          }
          assert.deepEqual([...lru.keys()], model);
        }
      }),
    );
  });

  it("capacity 0 keeps nothing; bad capacities are refused", () => {
    const lru = new LruMap<string, number>(0);
    lru.set("a", 1);
    assert.equal(lru.size, 0);
    assert.throws(() => new LruMap(-1), RangeError);
  });
});

describe("relations", () => {
  it("reads edits, reactions, redactions and thread roots", () => {
    const edit = ev("$e", { msgtype: "m.text", body: "* b", "m.new_content": { msgtype: "m.text", body: "b" }, "m.relates_to": { rel_type: "m.replace", event_id: "$o" } });
    assert.deepEqual(editOf(edit), { originalEventId: "$o", newContent: { msgtype: "m.text", body: "b" } });
    assert.equal(editOf(ev("$x", { msgtype: "m.text", body: "x", "m.relates_to": { rel_type: "m.replace", event_id: "$o" } })), undefined, "no m.new_content");
    const reaction = ev("$r", { "m.relates_to": { rel_type: "m.annotation", event_id: "$o", key: "👍" } }, { type: "m.reaction" });
    assert.deepEqual(reactionOf(reaction), { targetEventId: "$o", key: "👍" });
    assert.equal(redactedIdOf(ev("$d", { redacts: "$o" }, { type: "m.room.redaction" })), "$o");
    assert.equal(redactedIdOf({ ...ev("$d", {}, { type: "m.room.redaction" }), redacts: "$old" } as ClientEvent), "$old");
    assert.equal(threadRootOf(ev("$t", { "m.relates_to": { rel_type: "m.thread", event_id: "$root" } })), "$root");
    assert.equal(threadRootOf(ev("$t", { "m.relates_to": "junk" })), undefined);
  });

  it("edit validity follows the spec", () => {
    const original = ev("$o", { msgtype: "m.text", body: "a" });
    const edit = ev("$e", { "m.relates_to": { rel_type: "m.replace", event_id: "$o" } });
    assert.equal(isValidEditOf(edit, original), true);
    assert.equal(isValidEditOf({ ...edit, sender: "@mallory:example.org" }, original), false);
    assert.equal(isValidEditOf(edit, { ...original, state_key: "" }), false);
    assert.equal(isValidEditOf(edit, { ...original, content: { "m.relates_to": { rel_type: "m.replace", event_id: "$z" } } }), false);
  });

  it("currentContent applies the bundled edit but keeps the original relation", () => {
    const original = ev("$o", { msgtype: "m.text", body: "a", "m.relates_to": { "m.in_reply_to": { event_id: "$p" } } }, {
      unsigned: { "m.relations": { "m.replace": { content: { "m.new_content": { msgtype: "m.text", body: "b", "m.relates_to": { rel_type: "x" } } } } } },
    });
    assert.deepEqual(currentContent(original), { msgtype: "m.text", body: "b", "m.relates_to": { "m.in_reply_to": { event_id: "$p" } } });
  });
});

describe("MessageCache", () => {
  it("returns copies, folds in the newest valid edit, drops forged ones", () => {
    const cache = new MessageCache(10);
    cache.put(ev("$o", { msgtype: "m.text", body: "a" }));
    const copy = cache.get(ROOM, "$o");
    assert.ok(copy);
    copy.content.body = "mutated";
    assert.equal(cache.get(ROOM, "$o")?.content.body, "a");
    assert.equal(cache.get("!other:example.org", "$o"), undefined);

    const edit = (id: string, body: string, ts: number, sender = ALICE): ClientEvent =>
      ev(id, { msgtype: "m.text", body: `* ${body}`, "m.new_content": { msgtype: "m.text", body }, "m.relates_to": { rel_type: "m.replace", event_id: "$o" } }, { origin_server_ts: ts, sender });
    assert.equal(cache.applyEdit("$o", edit("$e2", "second", 3000)), true);
    assert.equal(cache.applyEdit("$o", edit("$e1", "first", 2000)), true);
    assert.equal(currentContent(cache.get(ROOM, "$o") as ClientEvent).body, "second", "an older edit arriving late doesn't win");
    assert.equal(cache.applyEdit("$o", edit("$f", "forged", 4000, "@mallory:example.org")), false);
    assert.equal(currentContent(cache.get(ROOM, "$o") as ClientEvent).body, "second");
    assert.equal(cache.applyEdit("$unknown", edit("$g", "x", 1)), true, "unknown originals can't be judged");

    cache.put(ev("$o", { msgtype: "m.text", body: "a" }));
    assert.equal(currentContent(cache.get(ROOM, "$o") as ClientEvent).body, "second", "a re-put keeps the folded edit");
  });

  it("skips an event nested too deeply to copy instead of throwing (the handler still gets it)", () => {
    const cache = new MessageCache(3);
    // JSON.parse reads this (as the HTTP client does); a recursive copy cannot.
    const content = JSON.parse(`{"msgtype":"m.text","body":"x","deep":${"[".repeat(20_000)}${"]".repeat(20_000)}}`) as Record<string, unknown>;
    cache.put(ev("$deep", { msgtype: "m.text", body: "old" }));
    assert.doesNotThrow(() => cache.put(ev("$deep", content)));
    assert.equal(cache.get(ROOM, "$deep"), undefined, "no stale copy stays behind either");
  });

  it("is bounded", () => {
    const cache = new MessageCache(3);
    for (let i = 0; i < 10; i++) cache.put(ev(`$${i}`, { msgtype: "m.text", body: String(i) }));
    assert.equal(cache.size, 3);
    assert.equal(cache.get(ROOM, "$0"), undefined);
    assert.ok(cache.get(ROOM, "$9"));
  });
});

describe("OwnReactions", () => {
  it("remembers own reactions per (room, event, key) and forgets redacted ones for good", () => {
    const own = new OwnReactions(10);
    own.remember(ROOM, "$t", "👍", "$r1");
    assert.equal(own.get(ROOM, "$t", "👍"), "$r1");
    assert.equal(own.get(ROOM, "$t", "👎"), undefined);
    own.forgetEvent("$r1");
    assert.equal(own.get(ROOM, "$t", "👍"), undefined);
    own.remember(ROOM, "$t", "👍", "$r1"); // the sync echo arriving after the removal
    assert.equal(own.get(ROOM, "$t", "👍"), undefined);
  });
});

describe("composeMessage", () => {
  const defaults = { msgtype: "m.notice" as const, ownUserId: ME };

  it("text: default msgtype, never self-mentioned, every option applies", () => {
    const content = composeMessage(`hi ${ME} and ${ALICE}`, { format: "plain", override: { "org.example": { a: 1 } } }, defaults);
    assert.deepEqual(content, { msgtype: "m.notice", body: `hi ${ME} and ${ALICE}`, "m.mentions": { user_ids: [ALICE] }, "org.example": { a: 1 } });
    assert.equal(composeMessage("x", { msgtype: "m.emote" }, defaults).msgtype, "m.emote");
  });

  it("objects are sent as given unless relation, mention or override options ask for more", () => {
    const image = { msgtype: "m.image", body: "cat.png", url: "mxc://example.org/cat" };
    assert.deepEqual(composeMessage(image, {}, defaults), image);
    assert.deepEqual(composeMessage(image, { replyTo: { eventId: "$q", sender: ALICE }, override: { info: { w: 1 } } }, defaults), {
      ...image,
      info: { w: 1 },
      "m.mentions": { user_ids: [ALICE] },
      "m.relates_to": { "m.in_reply_to": { event_id: "$q" } },
    });
  });
});

describe("replyMessageOptions", () => {
  const plain = { event_id: "$q", sender: ALICE, content: { msgtype: "m.text", body: "?" } };
  const threaded = { ...plain, content: { ...plain.content, "m.relates_to": { rel_type: "m.thread", event_id: "$root" } } };

  it("a reply, staying in the event's thread unless told otherwise", () => {
    assert.deepEqual(replyMessageOptions(plain, {}).replyTo, { eventId: "$q", sender: ALICE, mentionSender: true });
    assert.deepEqual(replyMessageOptions(threaded, {}).replyTo, { eventId: "$q", sender: ALICE, mentionSender: true, threadRootId: "$root" });
    assert.equal(replyMessageOptions(threaded, { thread: false }).replyTo?.threadRootId, undefined);
  });

  it("thread: true posts into the event's thread, or starts one from it", () => {
    assert.deepEqual(replyMessageOptions(plain, { thread: true }).thread, { rootId: "$q", latestEventId: "$q" });
    assert.deepEqual(replyMessageOptions(threaded, { thread: true }).thread, { rootId: "$root", latestEventId: "$q" });
    assert.deepEqual(replyMessageOptions(plain, { thread: true }).mentions, { detect: true, userIds: [ALICE] });
    const edit = { ...plain, content: { "m.relates_to": { rel_type: "m.replace", event_id: "$o" } } };
    assert.throws(() => replyMessageOptions(edit, { thread: true }), /cannot start a thread/);
  });
});

describe("TypingIndicator", () => {
  it("overlapping works in one room: one 'typing', refreshes, exactly one 'stopped' at the very end", async () => {
    const sent: [string, boolean][] = [];
    const typing = new TypingIndicator(async (room, on) => void sent.push([room, on]), (e) => assert.fail(String(e)));
    const first = typing.run(ROOM, () => tick(120), { timeoutMs: 1000, refreshMs: 50 });
    const second = typing.run(ROOM, () => tick(40).then(() => "done"));
    assert.equal(await second, "done");
    assert.equal(typing.isTyping(ROOM), true);
    await first;
    assert.equal(typing.isTyping(ROOM), false);
    assert.deepEqual(sent[0], [ROOM, true]);
    assert.deepEqual(sent.at(-1), [ROOM, false]);
    assert.equal(sent.filter(([, on]) => !on).length, 1);
    assert.ok(sent.filter(([, on]) => on).length >= 2, "refreshed while running");
  });

  it("a failing work still stops typing and rethrows; failing notifications don't fail the work", async () => {
    const sent: boolean[] = [];
    const errors: unknown[] = [];
    const typing = new TypingIndicator(async (_room, on) => {
      sent.push(on);
      if (on) throw new Error("typing refused");
    }, (e) => errors.push(e));
    await assert.rejects(typing.run(ROOM, () => Promise.reject(new Error("boom"))), /boom/);
    assert.deepEqual(sent, [true, false]);
    assert.equal(errors.length, 1);
    await assert.rejects(typing.run(ROOM, () => 1, { timeoutMs: 100, refreshMs: 100 }), RangeError);
  });
});

describe("ReadReceipts", () => {
  function setup(mode: boolean | "messages" = true) {
    const sent: [string, string][] = [];
    const receipts = new ReadReceipts({ mode, settleMs: 5, maxDelayMs: 200, send: async (room, id) => void sent.push([room, id]), onError: (e) => assert.fail(String(e)) });
    return { sent, receipts };
  }

  it("one receipt per room for a batch, for its latest handled event, after the last handler", async () => {
    const { sent, receipts } = setup();
    const doneA = receipts.arrived(ROOM, "$a", false);
    const doneB = receipts.arrived(ROOM, "$b", false);
    receipts.noteHandled(ROOM, "$b");
    doneB();
    receipts.noteHandled(ROOM, "$a");
    await tick(20);
    assert.deepEqual(sent, [], "a handler of the room is still running");
    doneA();
    await tick(20);
    assert.deepEqual(sent, [[ROOM, "$b"]]);
  });

  it("nothing for an event the bot answered, or any event before its answer", async () => {
    const { sent, receipts } = setup();
    const doneA = receipts.arrived(ROOM, "$a", false);
    const doneB = receipts.arrived(ROOM, "$b", false);
    const sentReply = receipts.beforeSend(ROOM);
    const doneC = receipts.arrived(ROOM, "$c", false); // arrives while the reply is in flight
    sentReply();
    receipts.noteHandled(ROOM, "$a");
    doneA();
    receipts.noteHandled(ROOM, "$b");
    doneB();
    await tick(20);
    assert.deepEqual(sent, []);
    receipts.noteHandled(ROOM, "$c");
    doneC();
    await tick(20);
    assert.deepEqual(sent, [[ROOM, "$c"]], "an event after the send is not covered by it");
  });

  it("own events, false mode and already-read events send nothing; markRead always sends", async () => {
    const { sent, receipts } = setup();
    receipts.arrived(ROOM, "$own", true)();
    receipts.noteHandled(ROOM, "$own");
    const done = receipts.arrived(ROOM, "$x", false);
    done();
    await receipts.markRead(ROOM, "$x");
    receipts.noteHandled(ROOM, "$x");
    await tick(20);
    assert.deepEqual(sent, [[ROOM, "$x"]]);

    const off = setup(false);
    off.receipts.arrived(ROOM, "$y", false)();
    off.receipts.noteHandled(ROOM, "$y");
    await tick(20);
    assert.deepEqual(off.sent, []);
  });

  it("a long-running handler delays the receipt at most maxDelayMs", async () => {
    const { sent, receipts } = setup();
    const stuck = receipts.arrived(ROOM, "$slow", false);
    receipts.arrived(ROOM, "$a", false)();
    receipts.noteHandled(ROOM, "$a");
    await tick(100);
    assert.deepEqual(sent, []);
    await tick(150);
    assert.deepEqual(sent, [[ROOM, "$a"]]);
    stuck();
  });

  it("close() flushes what is pending", async () => {
    const { sent, receipts } = setup();
    const running = receipts.arrived(ROOM, "$a", false);
    receipts.noteHandled(ROOM, "$a");
    await receipts.close();
    assert.deepEqual(sent, [[ROOM, "$a"]]);
    running();
  });
});
