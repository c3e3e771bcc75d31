/**
 * The default transport (niobot's `node:http` client, no injected fetch) against the real Synapse,
 * through a TCP proxy that forwards every byte and injects faults on the sockets themselves:
 * keep-alive reuse counted in connections, a send whose answer is lost on a reset connection, a
 * long poll cut by an abort, and a bot whose connections are all reset mid-poll.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { homeserver, newBot, newTestUser, type TestUser } from "../helpers/matrix.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

let proxy: TcpProxy;
before(async () => void (proxy = await startTcpProxy((await homeserver()).baseUrl)));
after(() => proxy.close());

const isReplyTo = (ping: string) => (e: { content: Record<string, unknown> }) =>
  (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === ping;

async function joined(human: TestUser, bot: { getRoom(id: string): { membership: string } | undefined; userId: string }): Promise<string> {
  const roomId = await human.createRoom([bot.userId]);
  const deadline = Date.now() + 20_000;
  while (bot.getRoom(roomId)?.membership !== "join") {
    if (Date.now() > deadline) throw new Error("the bot did not join");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return roomId;
}

describe("the default transport through a TCP proxy in front of Synapse", () => {
  test("a bot answering pings reuses its connections: far fewer than its requests", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false, homeserver: proxy.baseUrl });
    bot.command("ping", async (ctx) => void (await ctx.respond("pong")));
    const before = proxy.connections.length;
    await bot.start({ password: account.password });
    try {
      const roomId = await joined(human, bot);
      for (let n = 0; n < 8; n++) await human.waitForEvent(isReplyTo(await human.send(roomId, "!ping")));
      const mine = proxy.connections.slice(before);
      const requests = mine.reduce((sum, c) => sum + c.requests.length, 0);
      // Start-up, the join and 8 replies with their syncs are well over 20 requests; without
      // keep-alive each would be a connection of its own.
      assert.ok(requests >= 20, `requests: ${requests}`);
      assert.ok(mine.length * 2 <= requests, `${mine.length} connections for ${requests} requests`);
    } finally {
      await bot.stop();
    }
  });

  test("a send whose answer is lost on a reset connection is retried with its transaction id: one event", async () => {
    const human = await newTestUser();
    const roomId = await human.createRoom();
    const api = new MatrixApi({ baseUrl: proxy.baseUrl, accessToken: human.account.accessToken, initialBackoffMs: 20 });
    proxy.resetOnAnswer(/^PUT \S+\/send\/m\.room\.message\//);
    const { event_id } = await api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "once through a reset" });
    // Over any connection, an earlier test's kept-alive one included: this room's sends.
    const sends = proxy.connections.flatMap((c) => c.requests).filter((r) => r.startsWith("PUT ") && r.includes(encodeURIComponent(roomId)));
    assert.equal(sends.length, 2, "sent, reset, sent again");
    assert.equal(new Set(sends).size, 1, "the same transaction id");
    await human.waitForEvent((e) => e.event_id === event_id);
    await human.syncOnce();
    assert.equal(human.seen.filter((e) => e.content.body === "once through a reset").length, 1);
  });

  test("aborting a long poll closes its connection before Synapse answers", async () => {
    const human = await newTestUser();
    const api = new MatrixApi({ baseUrl: proxy.baseUrl, accessToken: human.account.accessToken });
    const { next_batch } = await api.sync.sync({ timeout: 0 });
    const controller = new AbortController();
    const poll = api.sync.sync({ since: next_batch, timeout: 30_000 }, { signal: controller.signal });
    const find = () => proxy.connections.find((c) => c.requests.at(-1)?.includes(`since=${encodeURIComponent(next_batch)}`) && !c.closed);
    while (!find()) await new Promise((resolve) => setTimeout(resolve, 5));
    const conn = find()!;
    const answeredBefore = conn.responseBytes;
    controller.abort(new DOMException("stopping", "AbortError"));
    await assert.rejects(poll, { message: "stopping" });
    // Waits for the close; were the socket kept, it would stay open (or carry the answer) for 30 s.
    while (!conn.closed) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(conn.responseBytes, answeredBefore, "no answer to the long poll reached the client");
  });

  test("every connection reset in the middle of the long poll: the bot syncs on and answers", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot({ encryption: false, homeserver: proxy.baseUrl, retry: { initialBackoffMs: 20, maxBackoffMs: 200 } });
    bot.command("ping", async (ctx) => void (await ctx.respond("pong")));
    await bot.start({ password: account.password });
    try {
      const roomId = await joined(human, bot);
      await human.waitForEvent(isReplyTo(await human.send(roomId, "!ping")));
      for (let n = 0; n < 3; n++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        proxy.resetAll();
      }
      await human.waitForEvent(isReplyTo(await human.send(roomId, "!ping")));
    } finally {
      await bot.stop();
    }
  });
});
