import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import { NioBot } from "../../src/bot/bot.js";
import { startDevHomeserver, type DevHomeserver } from "../../src/devserver/index.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { countingFetch } from "../helpers/matrix.js";

// A Synapse of its own with the real message limiter switched on. Synapse's
// default (0.2 messages/s after a burst of 10) would make 50 sends take over
// three minutes, so the rate is 2/s: the same limiter, the same 429s with
// retry_after_ms, in a tenth of the time.
// It needs root to run a Synapse of its own; with only an external server it is skipped.
const canRunLocal = process.getuid?.() === 0;
let hs: DevHomeserver | undefined;
before(async () => {
  if (canRunLocal) hs = await startDevHomeserver({ rateLimits: { rc_message: { per_second: 2, burst_count: 10 } } });
});
after(() => hs?.stop());

test("a burst of 50 sends against the real message rate limiter all arrive, in order", { skip: !canRunLocal && "needs root to start a rate-limited Synapse" }, async () => {
  assert.ok(hs, "rate-limited homeserver started");
  const botAccount = await hs.registerUser("burst-bot", "pw-burst");
  const human = await hs.registerUser("burst-human", "pw-human");
  const humanApi = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.accessToken });
  const { room_id: roomId } = await humanApi.rooms.create({ preset: "private_chat", invite: [botAccount.userId] });

  const counter = countingFetch();
  const bot = new NioBot({ homeserver: hs.baseUrl, userId: botAccount.userId, fetch: counter.fetch, handleSignals: false, logger: consoleLogger("silent") });
  await bot.start({ password: botAccount.password });
  try {
    await bot.api.rooms.join(roomId);
    // Fired all at once, not awaited one by one: the bot must keep them in order.
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => bot.sendMessage(roomId, `burst ${i}`, { format: "plain" })));
    assert.equal(new Set(ids).size, 50);

    const sendRequests = [...counter.counts].filter(([k]) => k.startsWith("PUT") && k.includes("/send/")).reduce((a, [, v]) => a + v, 0);
    assert.ok(sendRequests > 50, `the limiter really answered 429 (saw ${sendRequests} send requests for 50 messages)`);

    // Read the room back as the human: exactly 50, in send order.
    const bodies: string[] = [];
    let from: string | undefined;
    for (;;) {
      const page = await humanApi.sync.messages(roomId, { dir: "b", limit: 100, from });
      for (const e of page.chunk) if (e.sender === botAccount.userId && e.type === "m.room.message") bodies.push(e.content.body as string);
      if (!page.end || page.chunk.length === 0) break;
      from = page.end;
    }
    bodies.reverse();
    assert.deepEqual(bodies, Array.from({ length: 50 }, (_, i) => `burst ${i}`));
  } finally {
    await bot.stop();
  }
});
