/**
 * One reply builder: the same content answered through `ctx.respond`, `bot.reply` and
 * `bot.sendMessage` with `replyTo` goes out as identical JSON (captured at the transport, and
 * read back by a human from the real homeserver), for text and for a content object, in the
 * main timeline and inside a thread.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import type { NioBot } from "../../src/bot/bot.js";
import { replyTargetFromEvent } from "../../src/content/message.js";
import { newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

/** Bodies of every `PUT .../send/m.room.message/...` the bot made, by the event id the server answered. */
function recordingFetch(): { fetch: FetchLike; sent: Map<string, unknown> } {
  const sent = new Map<string, unknown>();
  const wrapped: FetchLike = async (input, init) => {
    const response = await fetch(input, init);
    if (init.method === "PUT" && /\/send\/m\.room\.message\//.test(new URL(input).pathname) && response.ok && typeof init.body === "string") {
      const { event_id } = (await response.clone().json()) as { event_id: string };
      sent.set(event_id, JSON.parse(init.body));
    }
    return response;
  };
  return { fetch: wrapped, sent };
}

const CONTENTS: Record<string, string | Record<string, unknown>> = {
  text: "Here is **the answer** <b>&</b>",
  object: { msgtype: "m.text", body: "a hand-built answer", "org.example.tag": 1 },
};

describe("one reply builder", () => {
  let human: TestUser;
  let bot: NioBot;
  let roomId: string;
  const recorder = recordingFetch();
  const errors: unknown[] = [];
  /** For each invocation: the ids of what the three paths sent. */
  const answers = new Map<string, { respond: string; reply: string; sendMessage: string }>();

  before(async () => {
    human = await newTestUser("human");
    const made = await newBot({ fetch: recorder.fetch });
    bot = made.bot;
    bot.on("error", (error) => void errors.push(error));
    bot.command("same", { args: "<kind:(text|object)>" }, async (ctx, { kind }) => {
      const content = CONTENTS[kind] ?? "";
      assert.deepEqual(ctx.replyTo, replyTargetFromEvent(ctx.message));
      const respond = (await ctx.respond(content)).eventId;
      const reply = await bot.reply(ctx.message, content);
      const sendMessage = await bot.sendMessage(ctx.room.roomId, content, { replyTo: replyTargetFromEvent(ctx.message) });
      answers.set(ctx.message.event_id, { respond, reply, sendMessage });
    });
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId]);
    await joined;
  });

  after(async () => {
    await bot.stop();
    assert.deepEqual(errors, []);
  });

  /** Invokes `!same kind` (optionally inside a thread) and returns the three answers as sent and as received. */
  async function invoke(kind: string, extra: Record<string, unknown> = {}): Promise<{ sent: unknown[]; received: unknown[]; invocation: string }> {
    const invocation = await human.send(roomId, `!same ${kind}`, extra);
    const done = bot.waitForEvent("commandComplete", (ctx) => ctx.message.event_id === invocation, 30_000);
    const [ctx] = await done;
    assert.equal(ctx.command.name, "same");
    const ids = answers.get(invocation);
    assert.ok(ids);
    const order = [ids.respond, ids.reply, ids.sendMessage];
    const received = await Promise.all(order.map(async (id) => (await human.waitForEvent((e) => e.event_id === id)).content));
    return { sent: order.map((id) => recorder.sent.get(id)), received, invocation };
  }

  for (const kind of Object.keys(CONTENTS)) {
    test(`${kind}: ctx.respond, bot.reply and bot.sendMessage({ replyTo }) send identical JSON`, async () => {
      const { sent, received, invocation } = await invoke(kind);
      assert.ok(sent[0] !== undefined);
      assert.deepEqual(sent[1], sent[0], "bot.reply");
      assert.deepEqual(sent[2], sent[0], "bot.sendMessage");
      assert.deepEqual(received, sent, "what the human reads is what was sent");
      const content = sent[0] as Record<string, unknown>;
      assert.deepEqual(content["m.relates_to"], { "m.in_reply_to": { event_id: invocation } });
      // The sender is notified by every path, content object included.
      assert.deepEqual((content["m.mentions"] as { user_ids?: string[] }).user_ids, [human.userId]);
      assert.equal(content.msgtype, kind === "text" ? "m.notice" : "m.text");
    });
  }

  test("inside a thread every path stays in the thread, identically", async () => {
    const root = await human.send(roomId, "a thread root");
    const { sent, invocation } = await invoke("object", { "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } } });
    assert.deepEqual(sent[1], sent[0]);
    assert.deepEqual(sent[2], sent[0]);
    assert.deepEqual((sent[0] as Record<string, unknown>)["m.relates_to"], { rel_type: "m.thread", event_id: root, "m.in_reply_to": { event_id: invocation }, is_falling_back: false });
  });
});
