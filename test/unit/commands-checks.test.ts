/**
 * Checks (power-level math from real state shapes, including room version 12 creators),
 * cooldown buckets, the registry, and the router's handling of malformed events — all without
 * a homeserver.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MessageEvent } from "../../src/api/events.js";
import { NioBot } from "../../src/bot/bot.js";
import {
  BotLacksPower,
  CheckFailure,
  clientHasPower,
  Command,
  CommandContext,
  CommandRegistry,
  CooldownBuckets,
  defineCommand,
  InsufficientPower,
  isDirectRoom,
  isOwner,
  NotOwner,
  powerLevelOf,
  roomCreators,
  runChecks,
  senderHasPower,
  check,
  type CheckLike,
} from "../../src/commands/index.js";
import { WaitTimeoutError } from "../../src/events/emitter.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { Room } from "../../src/sync/room.js";
import { HandlerScheduler } from "../../src/sync/scheduler.js";

const BOT = "@bot:x.org";
const ALICE = "@alice:x.org";
const BOB = "@bob:x.org";
const CAROL = "@carol:x.org";

function setState(room: Room, type: string, stateKey: string, sender: string, content: Record<string, unknown>): void {
  room.putState({ type, stateKey, sender, eventId: `$${type}${stateKey}`, content });
}

function makeRoom(opts: { version?: string; creator?: string; additional?: string[]; levels?: Record<string, unknown> } = {}): Room {
  const room = new Room("!r:x.org", "join");
  if (opts.creator !== undefined) {
    setState(room, "m.room.create", "", opts.creator, {
      ...(opts.version === undefined ? {} : { room_version: opts.version }),
      ...(opts.additional === undefined ? {} : { additional_creators: opts.additional }),
    });
  }
  if (opts.levels !== undefined) setState(room, "m.room.power_levels", "", opts.creator ?? ALICE, opts.levels);
  return room;
}

function makeBot(extra: Partial<ConstructorParameters<typeof NioBot>[0]> = {}): NioBot {
  return new NioBot({ homeserver: "http://127.0.0.1:1", userId: BOT, store: new MemoryStore(), logger: consoleLogger("silent"), handleSignals: false, ...extra });
}

function message(sender: string, content: Record<string, unknown>): MessageEvent {
  return { event_id: "$m", type: "m.room.message", sender, origin_server_ts: Date.now(), room_id: "!r:x.org", content } as MessageEvent;
}

function ctxFor(bot: NioBot, room: Room, sender: string): CommandContext {
  const command = new Command(defineCommand("t", () => undefined));
  return new CommandContext(bot, room, message(sender, { msgtype: "m.text", body: "!t" }), command, {
    prefix: "!",
    mention: false,
    invokedWith: "t",
    argumentText: "",
    formattedBody: undefined,
    replyTo: { eventId: "$m", sender },
  });
}

describe("power levels", () => {
  test("versions 1-11: users map, then users_default, then 0", () => {
    const room = makeRoom({ version: "10", creator: ALICE, levels: { users: { [ALICE]: 100, [BOB]: 50 }, users_default: 10 } });
    assert.equal(powerLevelOf(room, ALICE), 100);
    assert.equal(powerLevelOf(room, BOB), 50);
    assert.equal(powerLevelOf(room, CAROL), 10);
    const noDefault = makeRoom({ version: "11", creator: ALICE, levels: { users: { [ALICE]: 100 } } });
    assert.equal(powerLevelOf(noDefault, BOB), 0);
  });

  test("versions 1-11: a demoted creator has the level the event says", () => {
    const room = makeRoom({ version: "9", creator: ALICE, levels: { users: { [ALICE]: 20, [BOB]: 100 } } });
    assert.equal(powerLevelOf(room, ALICE), 20);
  });

  test("no power-levels event: the creator has 100, others 0 (room version absent means 1)", () => {
    const room = makeRoom({ creator: ALICE });
    assert.equal(powerLevelOf(room, ALICE), 100);
    assert.equal(powerLevelOf(room, BOB), 0);
    assert.equal(powerLevelOf(new Room("!empty:x.org", "join"), ALICE), 0);
  });

  test("version 12: the create sender and additional_creators have infinite power", () => {
    const room = makeRoom({ version: "12", creator: ALICE, additional: [BOB], levels: { users: { [CAROL]: 100 }, users_default: 0 } });
    assert.deepEqual(roomCreators(room), [ALICE, BOB]);
    assert.equal(powerLevelOf(room, ALICE), Infinity);
    assert.equal(powerLevelOf(room, BOB), Infinity);
    assert.equal(powerLevelOf(room, CAROL), 100);
    assert.ok(powerLevelOf(room, BOB) > powerLevelOf(room, CAROL), "creators outrank everyone");
    // Even a (forbidden) users entry cannot lower a v12 creator.
    const listed = makeRoom({ version: "12", creator: ALICE, levels: { users: { [ALICE]: 0 } } });
    assert.equal(powerLevelOf(listed, ALICE), Infinity);
  });

  test("additional_creators means nothing before version 12", () => {
    const room = makeRoom({ version: "11", creator: ALICE, additional: [BOB], levels: { users: { [ALICE]: 100 } } });
    assert.deepEqual(roomCreators(room), [ALICE]);
    assert.equal(powerLevelOf(room, BOB), 0);
  });

  test("later numeric versions keep privileged creators; junk levels are ignored", () => {
    assert.equal(powerLevelOf(makeRoom({ version: "13", creator: ALICE, levels: {} }), ALICE), Infinity);
    const room = makeRoom({ version: "10", creator: ALICE, levels: { users: { [ALICE]: "75", [BOB]: "lots" }, users_default: "5" } });
    assert.equal(powerLevelOf(room, ALICE), 75, "old rooms may hold levels as strings");
    assert.equal(powerLevelOf(room, BOB), 5);
  });
});

describe("checks", () => {
  test("senderHasPower passes at the level and fails below it with both numbers", async () => {
    const bot = makeBot();
    const room = makeRoom({ version: "10", creator: ALICE, levels: { users: { [ALICE]: 100, [BOB]: 49 } } });
    await runChecks(ctxFor(bot, room, ALICE), [senderHasPower(50)]);
    await assert.rejects(runChecks(ctxFor(bot, room, BOB), [senderHasPower(50)]), (e: unknown) => {
      assert.ok(e instanceof InsufficientPower);
      assert.equal(e.required, 50);
      assert.equal(e.actual, 49);
      assert.equal(e.message, "You need power level 50 to use this command (you have 49).");
      return true;
    });
  });

  test("senderHasPower roomCreatorBypass lets a demoted creator through", async () => {
    const bot = makeBot();
    const room = makeRoom({ version: "10", creator: ALICE, levels: { users: { [ALICE]: 0 } } });
    await assert.rejects(runChecks(ctxFor(bot, room, ALICE), [senderHasPower(50)]), InsufficientPower);
    await runChecks(ctxFor(bot, room, ALICE), [senderHasPower(50, { roomCreatorBypass: true })]);
  });

  test("v12 creators pass any senderHasPower level", async () => {
    const bot = makeBot();
    const room = makeRoom({ version: "12", creator: ALICE, additional: [BOB], levels: {} });
    await runChecks(ctxFor(bot, room, BOB), [senderHasPower(1_000_000)]);
  });

  test("clientHasPower reads the bot's own level", async () => {
    const bot = makeBot();
    const room = makeRoom({ version: "10", creator: ALICE, levels: { users: { [ALICE]: 100, [BOT]: 50 } } });
    await runChecks(ctxFor(bot, room, CAROL), [clientHasPower(50)]);
    await assert.rejects(runChecks(ctxFor(bot, room, CAROL), [clientHasPower(51)]), (e: unknown) => e instanceof BotLacksPower && e.actual === 50);
  });

  test("isOwner: the ownerId option and extra IDs; nobody without either", async () => {
    const room = makeRoom();
    await runChecks(ctxFor(makeBot({ ownerId: ALICE }), room, ALICE), [isOwner()]);
    await runChecks(ctxFor(makeBot({ ownerId: ALICE }), room, BOB), [isOwner(BOB)]);
    await assert.rejects(runChecks(ctxFor(makeBot({ ownerId: ALICE }), room, CAROL), [isOwner(BOB)]), NotOwner);
    await assert.rejects(runChecks(ctxFor(makeBot(), room, ALICE), [isOwner()]), NotOwner);
  });

  test("isOwner: an event without a sender never passes, whether or not ownerId is set", async () => {
    const room = makeRoom();
    const noSender = undefined as unknown as string;
    await assert.rejects(runChecks(ctxFor(makeBot(), room, noSender), [isOwner()]), NotOwner);
    await assert.rejects(runChecks(ctxFor(makeBot({ ownerId: "" }), room, ""), [isOwner()]), NotOwner);
    await assert.rejects(runChecks(ctxFor(makeBot({ ownerId: ALICE }), room, noSender), [isOwner()]), NotOwner);
    await assert.rejects(runChecks(ctxFor(makeBot(), room, ""), [isOwner("")]), NotOwner);
    await assert.rejects(runChecks(ctxFor(makeBot(), room, noSender), [isOwner(undefined as unknown as string)]), NotOwner);
  });

  test("custom checks: sync or async booleans, named or not; thrown CheckFailures keep their message", async () => {
    const ctx = ctxFor(makeBot(), makeRoom(), ALICE);
    const passing: CheckLike[] = [() => true, async () => true, check("named", () => true)];
    await runChecks(ctx, passing);
    await assert.rejects(runChecks(ctx, [check("weekday", async () => false)]), (e: unknown) => e instanceof CheckFailure && e.check === "weekday");
    await assert.rejects(runChecks(ctx, [function inLab() { return false; }]), (e: unknown) => e instanceof CheckFailure && e.check === "inLab");
    const custom = (): boolean => {
      throw new CheckFailure("quota", "You have used up your quota.");
    };
    await assert.rejects(runChecks(ctx, [custom]), { message: "You have used up your quota." });
    await assert.rejects(runChecks(ctx, [() => { throw new TypeError("bug"); }]), TypeError);
  });

  test("checks run in order and stop at the first failure", async () => {
    const ran: string[] = [];
    const ctx = ctxFor(makeBot(), makeRoom(), ALICE);
    await assert.rejects(runChecks(ctx, [() => (ran.push("a"), true), () => (ran.push("b"), false), () => (ran.push("c"), true)]));
    assert.deepEqual(ran, ["a", "b"]);
  });

  test("isDirectRoom: bot.isDm when the bot has it, else joined + invited === 2 with the bot joined", async () => {
    const room = new Room("!dm:x.org", "join");
    const source = (isDm?: (id: string) => Promise<boolean>) => ({ userId: BOT, getRoom: (id: string) => (id === room.roomId ? room : undefined), ...(isDm ? { isDm } : {}) });
    room.summary = { joined: 2, invited: 0 };
    assert.equal(await isDirectRoom(source(), room.roomId), true);
    room.summary = { joined: 1, invited: 1 };
    assert.equal(await isDirectRoom(source(), room.roomId), true, "the other side may not have accepted yet");
    room.summary = { joined: 3 };
    assert.equal(await isDirectRoom(source(), room.roomId), false);
    room.summary = {};
    assert.equal(await isDirectRoom(source(), room.roomId), false, "unknown counts are not a DM");
    room.summary = { joined: 2 };
    room.membership = "invite";
    assert.equal(await isDirectRoom(source(), room.roomId), false, "the bot must have joined");
    assert.equal(await isDirectRoom(source(), "!unknown:x.org"), false);
    assert.equal(await isDirectRoom(source(async (id) => id === "!unknown:x.org"), "!unknown:x.org"), true, "the DM layer decides when present");
  });
});

describe("cooldown buckets", () => {
  test("n uses per window, then the time left; a new window after it", () => {
    let now = 1_000;
    const cd = new CooldownBuckets({ uses: 2, windowMs: 10_000 }, () => now);
    assert.equal(cd.take(ALICE), 0);
    now += 1_000;
    assert.equal(cd.take(ALICE), 0);
    assert.equal(cd.take(ALICE), 9_000);
    assert.equal(cd.retryAfter(ALICE), 9_000);
    assert.equal(cd.take(BOB), 0, "per user by default");
    now = 11_000;
    assert.equal(cd.take(ALICE), 0, "the window has passed");
  });

  test("keys: per user, per room, global", () => {
    const inv = { roomId: "!r:x.org", sender: ALICE };
    assert.equal(new CooldownBuckets({ windowMs: 1 }).keyOf(inv), ALICE);
    assert.equal(new CooldownBuckets({ windowMs: 1, per: "room" }).keyOf(inv), "!r:x.org");
    assert.equal(new CooldownBuckets({ windowMs: 1, per: "global" }).keyOf(inv), "");
  });

  test("memory stays bounded: expired buckets are swept", () => {
    let now = 0;
    const cd = new CooldownBuckets({ uses: 1, windowMs: 1_000 }, () => now);
    for (let i = 0; i < 10_000; i++) {
      now += 10; // 100 distinct users per window
      cd.take(`@u${i}:x.org`);
    }
    assert.ok(cd.size <= 201, `held ${cd.size} buckets`);
    now += 2_000;
    cd.take(ALICE);
    assert.equal(cd.size, 1);
  });

  test("reset lifts a cooldown; bad options are rejected", () => {
    const cd = new CooldownBuckets({ windowMs: 60_000 });
    cd.take(ALICE);
    assert.ok(cd.take(ALICE) > 0);
    cd.reset(ALICE);
    assert.equal(cd.take(ALICE), 0);
    assert.throws(() => new CooldownBuckets({ uses: 0, windowMs: 1 }), RangeError);
    assert.throws(() => new CooldownBuckets({ windowMs: 0 }), RangeError);
  });
});

describe("registry", () => {
  test("names and aliases fold case; clashes are refused atomically; remove frees every name", () => {
    const reg = new CommandRegistry({ caseInsensitive: true });
    const add = reg.add(defineCommand("add", { aliases: ["Plus"] }, () => undefined));
    assert.equal(reg.get("ADD"), add);
    assert.equal(reg.get("plus"), add);
    assert.throws(() => reg.add(defineCommand("sum", { aliases: ["PLUS"] }, () => undefined)), /"PLUS" is already used by "add"/);
    assert.equal(reg.has("sum"), false, "nothing of a refused command is registered");
    assert.throws(() => reg.add(defineCommand("x", { aliases: ["x"] }, () => undefined)), /already used/);
    assert.throws(() => reg.add(defineCommand("two words", () => undefined)), TypeError);
    assert.equal(reg.remove("plus"), true);
    assert.equal(reg.has("add"), false);
    assert.equal(reg.size, 0);
    const strict = new CommandRegistry({ caseInsensitive: false });
    strict.add(defineCommand("Ping", () => undefined));
    assert.equal(strict.get("ping"), undefined);
  });

  test("usage is generated from the arguments unless given; summary is the first line", () => {
    const c = new Command(defineCommand("ban", { args: "<user:user> [reason...]", description: "Bans.\nLonger text." }, () => undefined));
    assert.equal(c.usage, "<user> [reason...]");
    assert.equal(c.summary, "Bans.");
    assert.equal(new Command(defineCommand("x", { usage: "<anything>" }, () => undefined)).usage, "<anything>");
  });
});

describe("router robustness", () => {
  test("malformed events are skipped with a debug log, never thrown, never reported", async () => {
    const debug: string[] = [];
    const logger = { ...consoleLogger("silent"), debug: (a: unknown, b?: unknown) => void debug.push(String(b ?? a)) };
    const bot = makeBot({ logger });
    const errors: unknown[] = [];
    bot.on("error", (e) => void errors.push(e));
    let ran = 0;
    bot.command("ping", () => void ran++);
    const room = new Room("!r:x.org", "join");
    const bad: Record<string, unknown>[] = [
      { msgtype: "m.text", body: 42 },
      { msgtype: "m.text", body: "!ping", formatted_body: 7, format: "org.matrix.custom.html" },
      { msgtype: "m.text", body: "!ping", "m.relates_to": "nope" },
      { msgtype: "m.text", body: "!ping", "m.relates_to": null },
      { msgtype: ["m.text"], body: "!ping" },
    ];
    for (const content of bad) await bot.emit("message", room, message(ALICE, content));
    // With commandsOnEdit off an edit is ignored before its content is even looked at.
    await bot.emit("message", room, message(ALICE, { msgtype: "m.text", body: "* !ping", "m.new_content": 5, "m.relates_to": { rel_type: "m.replace", event_id: "$x" } }));
    assert.equal(ran, 0);
    assert.deepEqual(errors, []);
    assert.equal(debug.filter((d) => d.includes("malformed")).length, bad.length, debug.join(" | "));
  });

  test("a bad edit is skipped when edits do run commands", async () => {
    const bot = makeBot({ commandsOnEdit: true });
    let ran = 0;
    bot.command("ping", () => void ran++);
    const room = new Room("!r:x.org", "join");
    for (const c of [5, { body: 5, msgtype: "m.text" }, null]) {
      await bot.emit("message", room, message(ALICE, { msgtype: "m.text", body: "* !ping", "m.new_content": c, "m.relates_to": { rel_type: "m.replace", event_id: "$x" } }));
    }
    assert.equal(ran, 0);
  });
});

describe("context and conversations", () => {
  test("ctx.args are the raw split arguments; an unterminated quote falls back to whitespace", () => {
    const bot = makeBot();
    const base = ctxFor(bot, makeRoom(), ALICE);
    const make = (argumentText: string): CommandContext =>
      new CommandContext(bot, base.room, base.message, base.command, {
        prefix: "!",
        mention: false,
        invokedWith: "T",
        argumentText,
        formattedBody: undefined,
        replyTo: base.replyTo,
      });
    assert.deepEqual(make(`a "b c"  d`).args, ["a", "b c", "d"]);
    assert.deepEqual(make(`a "b c`).args, ["a", `"b`, "c"]);
    assert.equal(make("").usage, "!T");
  });

  test("waitForMessage filters by room, sender and check, skips the bot's own messages, and times out", async () => {
    const bot = makeBot();
    const room = new Room("!r:x.org", "join");
    const elsewhere = new Room("!other:x.org", "join");
    const waiting = bot.waitForMessage({ room, sender: ALICE, check: (e) => e.content.body !== "no", timeoutMs: 5_000 });
    await bot.emit("message", elsewhere, message(ALICE, { msgtype: "m.text", body: "wrong room" }));
    await bot.emit("message", room, message(BOB, { msgtype: "m.text", body: "wrong sender" }));
    await bot.emit("message", room, message(ALICE, { msgtype: "m.text", body: "no" }));
    await bot.emit("message", room, message(ALICE, { msgtype: "m.text", body: "yes" }));
    assert.equal((await waiting).content.body, "yes");

    const anyone = bot.waitForMessage({ room, timeoutMs: 5_000 });
    await bot.emit("message", room, message(BOT, { msgtype: "m.text", body: "mine" }));
    await bot.emit("message", room, message(BOB, { msgtype: "m.text", body: "bob's" }));
    assert.equal((await anyone).content.body, "bob's");

    await assert.rejects(bot.waitForMessage({ timeoutMs: 20 }), WaitTimeoutError);
    const controller = new AbortController();
    const aborted = bot.waitForMessage({ signal: controller.signal });
    controller.abort(new Error("gave up"));
    await assert.rejects(aborted, /gave up/);
  });
});

describe("a command context's signal", () => {
  test("is the handler's, asked of it only when read: making the context and its parse context asks nothing (no controller per command)", async () => {
    const bot = makeBot();
    const controller = new AbortController();
    let asked = 0;
    const scheduler = new HandlerScheduler(1);
    const seen = await scheduler.run("!r:x.org", async () => {
      const ctx = ctxFor(bot, makeRoom(), ALICE);
      const parse = ctx.parseContext;
      await Promise.resolve();
      const before = asked;
      return { before, ctx: ctx.signal, parse: parse.signal, after: asked };
    }, () => (asked++, controller.signal));
    assert.equal(seen.before, 0);
    assert.equal(seen.ctx, controller.signal);
    assert.equal(seen.parse, controller.signal);
    assert.equal(seen.after, 2);
    // Outside a handler: a signal that never aborts.
    assert.equal(ctxFor(bot, makeRoom(), ALICE).signal.aborted, false);
  });
});
