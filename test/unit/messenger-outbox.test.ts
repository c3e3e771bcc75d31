/**
 * Messenger over the outbox, with a recording transport: every operation (send, reply, edit,
 * react, redact) takes the one outgoing path, redactions included, and what the outbox reports
 * as sent feeds the message cache.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { silentLogger } from "../../src/logging/logger.js";
import { Messenger } from "../../src/messaging/messenger.js";
import { Outbox } from "../../src/outbox/outbox.js";
import { RoomTracker } from "../../src/sync/tracker.js";
import { fakeTransport, gate, type Script } from "../helpers/fake-transport.js";

const ME = "@bot:x.org";
const ROOM = "!r:x.org";

function setup(script: Script): { messenger: Messenger; requests: ReturnType<typeof fakeTransport>["requests"] } {
  const { fetch, requests } = fakeTransport(script);
  const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger });
  const outbox = new Outbox({ api: () => api, roomEncryption: async () => undefined, encrypter: () => undefined });
  const messenger = new Messenger({ api, userId: ME, rooms: new RoomTracker(ME), reportError: (error) => assert.fail(String(error)) }, outbox, { autoReadReceipts: false });
  return { messenger, requests };
}

test("a redaction waits behind the room's pending send (it used to go around the queue)", async () => {
  const first = gate();
  let n = 0;
  const { messenger, requests } = setup(async (request) => {
    if (request.path.includes("/send/") && n++ === 0) await first.promise;
    return { body: { event_id: `$e${requests.length}` } };
  });
  const sending = messenger.send(ROOM, "slow");
  const redacting = messenger.redact(ROOM, "$old", "oops");
  const reacting = messenger.react(ROOM, "$old", "👍");
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(requests.length, 1, "nothing overtook the pending send");
  first.open();
  await Promise.all([sending, redacting, reacting]);
  assert.deepEqual(requests.map((r) => r.path.split("/")[6]), ["send", "redact", "send"]);
});

test("what was sent is cached from the outbox's report: editing it needs no lookup", async () => {
  const { messenger, requests } = setup((request) => ({ body: { event_id: request.path.includes("/send/") ? `$s${requests.length}` : "$x" } }));
  const { eventId } = await messenger.send(ROOM, "first version");
  await messenger.edit(ROOM, eventId, "second version");
  assert.equal(requests.filter((r) => r.method === "GET").length, 0, "the original came from the cache");
  const edit = requests[1]?.body as Record<string, unknown>;
  assert.deepEqual(edit["m.relates_to"], { rel_type: "m.replace", event_id: eventId });
  assert.equal((edit["m.new_content"] as { msgtype?: string }).msgtype, "m.notice", "the default msgtype, decided by the messenger");
});

test("a content object answered as a reply gets the relation and the sender's mention", async () => {
  const { messenger, requests } = setup(() => ({ body: { event_id: "$r" } }));
  const event = { event_id: "$q", sender: "@alice:x.org", room_id: ROOM, content: { msgtype: "m.text", body: "?" } };
  const { content } = await messenger.reply(event, { msgtype: "m.text", body: "answer" });
  assert.deepEqual(requests[0]?.body, content);
  assert.deepEqual(content, { msgtype: "m.text", body: "answer", "m.relates_to": { "m.in_reply_to": { event_id: "$q" } }, "m.mentions": { user_ids: ["@alice:x.org"] } });
});
