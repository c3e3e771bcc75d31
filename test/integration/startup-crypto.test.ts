/**
 * Start-up order with the default store (encryption on): the cross-signing identity and the key
 * backup are set up beside the first batches, not before them. A `fetch` wrapper holds the
 * identity's upload of its signing keys (a fresh account creates its identity) against the real
 * Synapse: meanwhile the bot reaches its long poll and answers in an unencrypted room, a send into
 * an encrypted room waits for the identity (and then goes out encrypted), and `start()` resolves
 * only once the identity and the backup are set up. With an access token, holding the crypto
 * store's device check (which the machine's opening waits for) shows the first batches handled and
 * an unencrypted room answered before the machine exists (the start queue).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FetchLike } from "../../src/api/http.js";
import { SetUpTrigger } from "../../src/crypto/set-up-trigger.js";
import { homeserver, newBot, newTestUser, newUser, tempStorePath, TestUser } from "../helpers/matrix.js";

/** The identity's and the key backup's requests (a joined identity reads its secrets from account data). */
const setUpRequest = /^(POST \/keys\/(device_signing|signatures)\/upload|(GET|PUT) \/user\/[^/]+\/account_data\/|(GET|POST) \/room_keys\/version)/;
const endpoint = (input: string, init: RequestInit): string => `${init.method ?? "GET"} ${new URL(input).pathname.replace(/^\/_matrix\/client\/v3/, "")}`;

/** Resolves when `ready` does, or after `ms` (then the caller's assertion fails: the order was wrong). */
async function within(ready: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([ready.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe("start-up order with the default store", () => {
  test("identity and key backup run beside the first batches: an unencrypted room is answered meanwhile, an encrypted send waits", async () => {
    const hs = await homeserver();
    const account = await newUser("bot");
    const human = await newTestUser();
    const plainRoom = await human.createRoom([account.userId]);
    const encryptedRoom = await human.createRoom([account.userId], {
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    const asBot = new TestUser(account, hs.baseUrl);
    await asBot.api.rooms.join(plainRoom);
    await asBot.api.rooms.join(encryptedRoom);

    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let heldSent!: () => void;
    const held = new Promise<void>((resolve) => (heldSent = resolve));
    let pollSent!: () => void;
    const longPoll = new Promise<void>((resolve) => (pollSent = resolve));
    const log: string[] = [];
    const fetch: FetchLike = async (input, init) => {
      const name = endpoint(input, init);
      log.push(name);
      if (name === "GET /sync" && new URL(input).searchParams.has("since")) pollSent();
      if (name === "POST /keys/device_signing/upload") {
        heldSent();
        await gate;
      }
      return globalThis.fetch(input, init);
    };
    const { bot } = await newBot({ storePath: tempStorePath(), fetch }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    let started = false;
    const starting = bot.start({ password: account.password }).then(() => void (started = true));
    starting.catch(() => undefined);
    try {
      assert.ok(await within(held, 60_000), `the identity's signing keys upload went out: ${log.join(", ")}`);
      assert.ok(await within(longPoll, 60_000), `the first batch was handled and the long poll sent while the identity is held: ${log.join(", ")}`);
      assert.ok(!log.includes("GET /room_keys/version"), "the key backup is set up after the identity");

      let sentEncrypted = false;
      const sending = bot.sendMessage(encryptedRoom, "secret").then((id) => ((sentEncrypted = true), id));
      sending.catch(() => undefined);
      await human.send(plainRoom, "!ping");
      await human.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "pong", 30_000);
      assert.equal(started, false, "start() waits for the identity and the key backup");
      assert.equal(sentEncrypted, false, "a send into an encrypted room waits for the identity");
      assert.ok(!human.seen.some((e) => e.room_id === encryptedRoom && e.sender === account.userId && e.type === "m.room.message"), "nothing in plaintext");

      open();
      await starting;
      assert.equal(bot.crypto.identity?.outcome, "created");
      assert.ok(bot.crypto.backup?.enabled, "a key backup was created with the new identity");
      const eventId = await sending;
      const sent = await human.waitForEvent((e) => e.event_id === eventId, 30_000);
      assert.equal(sent.type, "m.room.encrypted", "the waiting send went out encrypted");
    } finally {
      open();
      await starting.catch(() => undefined);
      await bot.stop();
    }
  });

  test("one set of one-time keys at start, and the identity only after the first batch", async () => {
    await homeserver();
    const account = await newUser("bot");
    let syncHeld!: () => void;
    const held = new Promise<void>((resolve) => (syncHeld = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let uploaded!: () => void;
    const firstUpload = new Promise<void>((resolve) => (uploaded = resolve));
    let signing!: () => void;
    const identityWrote = new Promise<void>((resolve) => (signing = resolve));
    let pollSent!: () => void;
    const longPoll = new Promise<void>((resolve) => (pollSent = resolve));
    const log: string[] = [];
    /** One-time keys in each `/keys/upload` sent before start() resolved. */
    const keySets: number[] = [];
    let polling = false;
    let started = false;
    const fetch: FetchLike = async (input, init) => {
      const name = endpoint(input, init);
      const since = new URL(input).searchParams.has("since");
      log.push(name);
      if (name === "GET /sync" && since && !polling) {
        polling = true;
        pollSent();
      }
      if (name === "POST /keys/upload" && !started) {
        const body = JSON.parse(String(init.body)) as { one_time_keys?: Record<string, unknown> };
        keySets.push(Object.keys(body.one_time_keys ?? {}).length);
      }
      if (name === "POST /keys/device_signing/upload") signing();
      const response = await globalThis.fetch(input, init);
      if (name === "POST /keys/upload") uploaded();
      if (name === "GET /sync" && !since) {
        // The initial batch is held: the machine opens and uploads its keys meanwhile.
        syncHeld();
        await gate;
      }
      return response;
    };
    const { bot } = await newBot({ storePath: tempStorePath(), fetch }, account);
    const starting = bot.start({ password: account.password }).then(() => void (started = true));
    starting.catch(() => undefined);
    try {
      assert.ok(await within(Promise.all([held, firstUpload]), 60_000), `the initial sync came back and the machine uploaded its keys: ${log.join(", ")}`);
      // A fresh account gets a new identity, whose first write is the signing keys' upload: not while the batch is held.
      assert.equal(await within(identityWrote, 3_000), false, `the identity waits for the first batch: ${log.join(", ")}`);
      release();
      assert.ok(await within(longPoll, 60_000), `the long poll went out: ${log.join(", ")}`);
      await starting;
      // The first batch's counts (0 one-time keys, taken before the upload) no longer make a second set.
      assert.equal(keySets.filter((n) => n > 0).length, 1, `one-time keys in each upload until start() resolved: ${keySets.join(", ")}`);
      assert.equal(bot.crypto.identity?.outcome, "created");
    } finally {
      release();
      await starting.catch(() => undefined);
      await bot.stop();
    }
  });

  test("with an access token the first batches are handled beside the crypto store's device check: an unencrypted room is answered before the machine exists", async () => {
    const hs = await homeserver();
    const account = await newUser("bot");
    const human = await newTestUser();
    const plainRoom = await human.createRoom([account.userId]);
    await new TestUser(account, hs.baseUrl).api.rooms.join(plainRoom);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let checkHeld!: () => void;
    const held = new Promise<void>((resolve) => (checkHeld = resolve));
    let pollSent!: () => void;
    const longPoll = new Promise<void>((resolve) => (pollSent = resolve));
    const log: string[] = [];
    let checks = 0;
    let released = false;
    const fetch: FetchLike = async (input, init) => {
      const name = endpoint(input, init);
      const since = new URL(input).searchParams.has("since");
      log.push(name + (since ? "?since" : ""));
      if (name === "GET /sync" && since) pollSent();
      // The device check (does the server know keys of this device?) is the first key query: held,
      // and the machine opens only after it.
      if (name === "POST /keys/query" && checks++ === 0) {
        checkHeld();
        await gate;
      }
      return globalThis.fetch(input, init);
    };
    const { bot } = await newBot({ storePath: tempStorePath(), fetch }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    const starting = bot.start({ accessToken: account.accessToken });
    starting.catch(() => undefined);
    try {
      assert.ok(await within(held, 60_000), `the device check went out: ${log.join(", ")}`);
      assert.ok(await within(longPoll, 60_000), `the first batch was handled and the long poll sent while the device check is held: ${log.join(", ")}`);
      await human.send(plainRoom, "!ping");
      await human.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "pong", 30_000);
      assert.equal(released, false);
      assert.ok(!log.includes("POST /keys/upload"), `answered before the machine existed (it uploads its keys first thing): ${log.join(", ")}`);
      released = true;
      release();
      await starting;
      assert.ok(log.includes("POST /keys/upload"), `the machine came up after: ${log.join(", ")}`);
    } finally {
      release();
      await starting.catch(() => undefined);
      await bot.stop();
    }
  });

  test("the identity and the key backup reach the server only after the first answer was sent", async () => {
    const hs = await homeserver();
    const account = await newUser("bot");
    const human = await newTestUser();
    const plainRoom = await human.createRoom([account.userId]);
    const asBot = new TestUser(account, hs.baseUrl);
    await asBot.api.rooms.join(plainRoom);
    // A quiet first long poll would start the set-up after a moment; here the ping is already
    // waiting when the long poll goes out, and a slow machine must not make the moment pass first.
    const idle = SetUpTrigger.defaultIdleMs;
    SetUpTrigger.defaultIdleMs = 600_000;
    const log: string[] = [];
    let pinged = false;
    let polled = false;
    let fallbackUploaded = false;
    const { bot } = await newBot({
      storePath: tempStorePath(),
      fetch: async (input, init) => {
        const name = endpoint(input, init);
        const since = new URL(input).searchParams.has("since");
        log.push(name);
        if (name === "POST /keys/upload" && log.indexOf(name) === log.length - 1) {
          const body = JSON.parse(String(init.body)) as { fallback_keys?: Record<string, unknown> };
          fallbackUploaded = Object.keys(body.fallback_keys ?? {}).length > 0;
        }
        const response = await globalThis.fetch(input, init);
        if (name === "GET /sync" && !since && !pinged) {
          // Sent after the initial batch was made, so it is news in the first long poll.
          pinged = true;
          await human.send(plainRoom, "!ping");
        }
        if (name === "GET /sync" && since && !polled) {
          polled = true;
          // The ping is handed over once the machine is open and has the first batch, and (for a
          // while) once the set-up has reached the server: the old order started the identity
          // right then, beside the first answer. The new one waits for the answer: the wait ends
          // without it.
          for (let waited = 0; waited < 3_000; waited += 10) {
            let open = true;
            try {
              void bot.crypto;
            } catch {
              open = false;
              waited = 0;
            }
            if (open && log.some((n) => setUpRequest.test(n))) break;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }
        return response;
      },
    }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    const starting = bot.start({ password: account.password });
    starting.catch(() => undefined);
    try {
      await human.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "pong", 60_000);
      await starting;
      assert.equal(bot.crypto.identity?.outcome, "created", "the identity was set up");
      assert.ok(bot.crypto.backup?.enabled, "and the key backup");
      const answer = log.findIndex((n) => /^PUT \/rooms\/[^/]+\/send\/m\.room\.message\//.test(n));
      const setUp = log.findIndex((n) => setUpRequest.test(n));
      assert.ok(answer >= 0 && setUp >= 0, `both in the log: ${log.join(", ")}`);
      assert.ok(answer < setUp, `the answer went out before the first set-up request: ${log.join(", ")}`);
      // The new device's fallback key went with its first upload, not in a second one made from the
      // first long poll's batch, which would have gone out in front of the answer.
      assert.equal(log.slice(0, answer).filter((n) => n === "POST /keys/upload").length, 1, `one key upload before the answer: ${log.join(", ")}`);
      assert.ok(fallbackUploaded, "the first upload carried a fallback key");
    } finally {
      SetUpTrigger.defaultIdleMs = idle;
      await starting.catch(() => undefined);
      await bot.stop();
    }
  });

  test("with an access token, the machine opens after the first answer in a plaintext room: no key request goes out before it", async () => {
    const hs = await homeserver();
    const account = await newUser("bot");
    const human = await newTestUser();
    const plainRoom = await human.createRoom([account.userId]);
    const asBot = new TestUser(account, hs.baseUrl);
    await asBot.api.rooms.join(plainRoom);
    // Only the first answer may open it here (or something waiting for it), not a quiet moment on a slow machine.
    const idle = SetUpTrigger.defaultIdleMs;
    SetUpTrigger.defaultIdleMs = 600_000;
    const log: string[] = [];
    let pinged = false;
    const { bot } = await newBot({
      storePath: tempStorePath(),
      fetch: async (input, init) => {
        const name = endpoint(input, init);
        log.push(name);
        const response = await globalThis.fetch(input, init);
        if (name === "GET /sync" && !new URL(input).searchParams.has("since") && !pinged) {
          // Sent after the initial batch was made, so it is news in the first long poll.
          pinged = true;
          await human.send(plainRoom, "!ping");
        }
        return response;
      },
    }, account);
    bot.command("ping", (ctx) => ctx.respond("pong"));
    const starting = bot.start({ accessToken: account.accessToken });
    starting.catch(() => undefined);
    try {
      await human.waitForEvent((e) => e.room_id === plainRoom && e.sender === account.userId && e.content.body === "pong", 60_000);
      await starting;
      assert.ok(bot.crypto.identity, "the machine opened and the identity was set up once the answer was out");
      const answer = log.findIndex((n) => /^PUT \/rooms\/[^/]+\/send\/m\.room\.message\//.test(n));
      const firstKeyRequest = log.findIndex((n) => n.startsWith("POST /keys/"));
      assert.ok(answer >= 0 && firstKeyRequest >= 0, `both in the log: ${log.join(", ")}`);
      assert.ok(answer < firstKeyRequest, `the answer went out before the machine's first request: ${log.join(", ")}`);
    } finally {
      SetUpTrigger.defaultIdleMs = idle;
      await starting.catch(() => undefined);
      await bot.stop();
    }
  });
});
