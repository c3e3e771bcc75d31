import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { describe, test } from "node:test";
import { MatrixError } from "../../src/api/errors.js";
import { LoginError } from "../../src/bot/login.js";
import { SqliteStore, StoreLockedError } from "../../src/storage/sqlite.js";
import { countingFetch, homeserver, newBot, newTestUser, newUser, tempStorePath } from "../helpers/matrix.js";


describe("login", () => {
  test("password login stores the token; a restart reuses the device without logging in again", async () => {
    const storePath = tempStorePath();
    const counter = countingFetch();
    const { bot, account } = await newBot({ storePath, fetch: counter.fetch });
    await bot.start({ password: account.password });
    const firstDevice = bot.deviceId;
    assert.ok(firstDevice);
    assert.equal(bot.userId, account.userId);
    await bot.stop();
    assert.equal(statSync(storePath).mode & 0o777, 0o600, "the store holds a token, so it must be private");
    assert.equal(counter.counts.get("POST /_matrix/client/v3/login"), 1);

    counter.reset();
    const { bot: again } = await newBot({ storePath, fetch: counter.fetch }, account);
    await again.start(); // no credentials: the stored login must do
    assert.equal(again.deviceId, firstDevice);
    assert.equal(counter.counts.get("POST /_matrix/client/v3/login"), undefined);
    assert.equal(counter.counts.get("GET /_matrix/client/v3/account/whoami"), 1);
    await again.stop();
  });

  test("access token login is checked with whoami", async () => {
    const { bot, account } = await newBot();
    await bot.start({ accessToken: account.accessToken });
    assert.equal(bot.deviceId, account.deviceId);
    await bot.stop();
  });

  test("a bad access token or password is a clear LoginError, and the token is not in the message", async () => {
    const { bot } = await newBot();
    await assert.rejects(bot.start({ accessToken: "syt_bogus_token_123" }), (e: unknown) => {
      assert.ok(e instanceof LoginError);
      assert.match(e.message, /rejected/);
      assert.doesNotMatch(e.message, /syt_bogus/);
      return true;
    });
    const { bot: bot2 } = await newBot();
    await assert.rejects(bot2.start({ password: "definitely-wrong" }), LoginError);
  });

  test("a second process on the same store is refused", async () => {
    const storePath = tempStorePath();
    const first = new SqliteStore(storePath);
    await first.open();
    const second = new SqliteStore(storePath);
    await assert.rejects(second.open(), StoreLockedError);
    await first.close();
    await second.open(); // free again once the first one closed
    await second.close();
  });
});

describe("sync and messages", () => {
  test("auto-joins an invite, receives a message and answers it", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      const joined = bot.waitForEvent("join", undefined, 20_000);
      const roomId = await human.createRoom([account.userId]);
      const [room] = await joined;
      assert.equal(room.roomId, roomId);

      bot.on("message", async (r, event) => {
        if (event.sender !== human.userId) return;
        await bot.sendMessage(r.roomId, `echo: **${event.content.body}**`);
      });
      await human.send(roomId, "hello");
      const reply = await human.waitForEvent((e) => e.sender === account.userId && e.type === "m.room.message");
      assert.equal(reply.content.msgtype, "m.notice");
      assert.equal(reply.content.body, "echo: **hello**");
      assert.equal(reply.content.format, "org.matrix.custom.html");
      assert.equal(reply.content.formatted_body, "echo: <strong>hello</strong>");
    } finally {
      await bot.stop();
    }
  });

  test("autoJoin: false leaves invites alone; an allowlist joins only listed inviters", async () => {
    const stranger = await newTestUser("stranger");
    const friend = await newTestUser("friend");
    const { bot, account } = await newBot({ autoJoin: { users: [friend.userId] } });
    await bot.start({ password: account.password });
    try {
      const invites: string[] = [];
      bot.on("invite", (room) => void invites.push(room.roomId));
      const fromStranger = await stranger.createRoom([account.userId]);
      const joined = bot.waitForEvent("join", undefined, 20_000);
      const fromFriend = await friend.createRoom([account.userId]);
      const [room] = await joined;
      assert.equal(room.roomId, fromFriend);
      assert.ok(invites.includes(fromStranger));
      assert.equal(bot.getRoom(fromStranger)?.membership, "invite");
    } finally {
      await bot.stop();
    }
  });

  test("stop during a long poll returns within a second", async () => {
    const { bot, account } = await newBot({ syncTimeoutMs: 30_000 });
    await bot.start({ password: account.password });
    await new Promise((r) => setTimeout(r, 300)); // let the long poll begin
    const started = performance.now();
    await bot.stop();
    const took = performance.now() - started;
    assert.ok(took < 1_000, `stop took ${took} ms`);
    assert.equal(bot.running, false);
  });

  test("a handler that throws reaches the error event and the bot keeps handling messages", async () => {
    const human = await newTestUser();
    const { bot, account } = await newBot();
    await bot.start({ password: account.password });
    try {
      // Listen before acting: the bot may join before a listener added afterwards exists.
      const joined = bot.waitForEvent("join", undefined, 20_000);
      const roomId = await human.createRoom([account.userId]);
      assert.equal((await joined)[0].roomId, roomId);
      const errors: unknown[] = [];
      bot.on("error", (error, context) => {
        assert.equal(context.source, "message");
        assert.equal(context.room?.roomId, roomId);
        errors.push(error);
      });
      const bodies: string[] = [];
      bot.on("message", (_room, event) => {
        if (event.content.body === "boom") throw new Error("handler exploded");
        bodies.push(event.content.body);
      });
      const handledAfter = bot.waitForEvent("message", (_r, e) => e.content.body === "after", 20_000);
      await human.send(roomId, "boom");
      await human.send(roomId, "after");
      await handledAfter;
      assert.equal(errors.length, 1);
      assert.match((errors[0] as Error).message, /exploded/);
      assert.deepEqual(bodies.filter((b) => b !== "after"), []);
      assert.equal(bot.running, true);
    } finally {
      await bot.stop();
    }
  });
});

describe("a revoked access token", () => {
  test("reports the error and stops the bot completely", async () => {
    const { bot, account } = await newBot({ syncTimeoutMs: 500 });
    await bot.start({ accessToken: account.accessToken });
    const errors: unknown[] = [];
    bot.on("error", (error, context) => void errors.push([context.source, error]));
    const stopped = bot.waitForEvent("stopped", undefined, 20_000);
    const hs = await homeserver();
    const { MatrixApi } = await import("../../src/api/client.js");
    await new MatrixApi({ baseUrl: hs.baseUrl, accessToken: account.accessToken }).account.logout();
    await stopped;
    assert.equal(bot.running, false);
    assert.equal(errors.length, 1);
    const [source, error] = errors[0] as [string, MatrixError];
    assert.equal(source, "sync");
    assert.equal(error.errcode, "M_UNKNOWN_TOKEN");
  });
});

describe("delivery across restarts", () => {
  test("history is not news, a message sent while down is handled exactly once", async () => {
    const storePath = tempStorePath();
    const human = await newTestUser();
    const botAccount = await newUser("bot");
    // The room and a message exist before the bot ever starts.
    const roomId = await human.createRoom([botAccount.userId]);
    const hs = await homeserver();
    const { MatrixApi } = await import("../../src/api/client.js");
    const botApi = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: botAccount.accessToken });
    await botApi.rooms.join(roomId);
    await human.send(roomId, "old news");

    const handled: string[] = [];
    const run = async (): Promise<void> => {
      const { bot } = await newBot({ storePath }, botAccount);
      bot.on("message", (_room, event) => {
        if (event.sender === human.userId) handled.push(event.content.body);
      });
      await bot.start({ password: botAccount.password });
      await new Promise((r) => setTimeout(r, 1_500));
      await bot.stop();
    };

    await run(); // first start: the old message is history
    assert.deepEqual(handled, []);

    await human.send(roomId, "while you were away");
    await run(); // catches up
    assert.deepEqual(handled, ["while you were away"]);

    await run(); // nothing new: nothing replayed
    assert.deepEqual(handled, ["while you were away"]);
  });
});

describe("errors", () => {
  test("MatrixError carries errcode, status, method and a redacted path", async () => {
    const human = await newTestUser();
    await assert.rejects(human.api.rooms.join("#does-not-exist:localhost"), (e: unknown) => {
      assert.ok(e instanceof MatrixError);
      assert.equal(e.status, 404);
      assert.equal(e.errcode, "M_NOT_FOUND");
      assert.equal(e.method, "POST");
      assert.match(e.path, /\/join\//);
      return true;
    });
  });
});
