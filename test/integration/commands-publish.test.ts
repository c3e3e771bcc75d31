/**
 * MSC4391 against the real homeserver: a bot with `publishCommands: true` publishes a
 * description per command where its power level allows; a second account reads the state
 * events, invokes commands in the structured form (good and hostile input) and sees the answers;
 * mounting a module adds descriptions, unmounting clears them; rate limits are waited out.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { StateEvent } from "../../src/api/events.js";
import { COMMAND_DESCRIPTION_EVENT_TYPE as TYPE, COMMAND_INVOCATION_KEY, commandStateKey, defineCommand, defineModule, isOwner } from "../../src/commands/index.js";
import { NioBot, type Logger } from "../../src/index.js";
import { startTestHomeserver, type TestHomeserver, type TestPerson } from "../../src/testing/index.js";
import { faultyFetch } from "../helpers/faults.js";

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** Keeps every log line, so the test can see what the publisher decided. */
function recordingLogger(lines: Line[]): Logger {
  const at = (level: string) => (a: Record<string, unknown> | string, b?: string): void => {
    lines.push(typeof a === "string" ? { level, fields: {}, msg: a } : { level, fields: a, msg: b ?? "" });
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("publishCommands (MSC4391)", () => {
  let hs: TestHomeserver;
  let bot: NioBot;
  let alice: TestPerson;
  let room: string;
  const lines: Line[] = [];
  const dir = mkdtempSync(join(tmpdir(), "niobot-publish-"));
  // The first description PUT is rate-limited for longer than the bot may wait in the transport,
  // so the publisher must pause by itself and come back.
  const faults = faultyFetch([
    { method: "PUT", path: new RegExp(`/state/${TYPE.replace(/\./g, "\\.")}/`), times: 1, fault: { kind: "status", status: 429, body: { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 700 } } },
  ]);

  /** The bot's descriptions in a room as the server has them, by command ("" for cleared ones). */
  /** Description PUTs the bot has made so far (Synapse would answer a repeated identical one with the old event, so count requests). */
  function descriptionPuts(roomId?: string): number {
    const puts = faults.log.filter((r) => r.method === "PUT" && r.path.includes(`/state/${TYPE}/`));
    return roomId === undefined ? puts.length : puts.filter((r) => decodeURIComponent(r.path).includes(`/rooms/${roomId}/`)).length;
  }

  async function published(roomId: string, reader: TestPerson = alice): Promise<Map<string, StateEvent>> {
    const state = (await reader.client.api.rooms.state(roomId)) as StateEvent[];
    const out = new Map<string, StateEvent>();
    for (const e of state) {
      if (e.type !== TYPE || e.sender !== bot.userId) continue;
      const name = typeof e.content.command === "string" ? e.content.command : "";
      out.set(name === "" ? `cleared:${e.state_key}` : name, e);
    }
    return out;
  }

  function structured(command: unknown, args?: unknown, mention?: string): Record<string, unknown> {
    return { "m.mentions": { user_ids: [mention ?? bot.userId] }, [COMMAND_INVOCATION_KEY]: args === undefined ? { command } : { command, arguments: args } };
  }

  /** The bot, kept in a store file so a restart resumes from it; `once` only when asked. */
  function makeBot(homeserver: string, userId: string, withOnce: boolean): NioBot {
    const b = new NioBot({
      homeserver,
      userId,
      storePath: join(dir, "bot.db"),
      encryption: false,
      handleSignals: false,
      logger: recordingLogger(lines),
      fetch: faults.fetch,
      retry: { maxRateLimitWaitMs: 100 },
      publishCommands: true,
      ownerId: "@owner:elsewhere.example",
    });
    b.command("add", { args: "<a:int> <b:int>", description: "Adds two numbers.\nBoth must be whole." }, (ctx, { a, b: b2 }) => ctx.respond(String(a + b2)));
    b.command("greet", { args: "<who:user> [times:int=1] [note...]", description: "Greets someone." }, (ctx, { who, times, note }) =>
      ctx.respond(`hello ${who} x${times}${note === undefined ? "" : ` (${note})`}`),
    );
    if (withOnce) b.command("once", { cooldown: { uses: 1, windowMs: 60_000 } }, (ctx) => ctx.respond("ran once"));
    b.command("secret", { hidden: true }, (ctx) => ctx.respond("psst"));
    b.command("admin", { checks: [isOwner()] }, (ctx) => ctx.respond("yes, boss"));
    return b;
  }

  before(async () => {
    hs = await startTestHomeserver();
    const account = await hs.botAccount();
    bot = makeBot(account.homeserver, account.userId, true);
    await bot.start({ password: account.password });
    alice = await hs.user("alice");
    room = await alice.createRoom({ invite: [bot.userId] });
    // private_chat: the bot joins at level 0 and state needs 50, so it publishes only once raised.
    const levels = (await alice.roomState(room, "m.room.power_levels")) ?? {};
    await alice.client.api.rooms.putState(room, "m.room.power_levels", "", { ...levels, users: { ...(levels.users as object), [bot.userId]: 50 } });
  });

  after(async () => {
    await bot.stop();
    await hs.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a second account reads a typed description of each visible command", async () => {
    const byName = await eventually("the descriptions", async () => {
      const got = await published(room);
      return ["add", "greet", "once", "admin", "help"].every((n) => got.has(n)) ? got : undefined;
    });
    assert.equal(byName.has("secret"), false, "hidden commands are not published");
    const add = byName.get("add");
    assert.equal(add?.state_key, commandStateKey("add", bot.userId));
    assert.deepEqual(add?.content, {
      command: "add",
      parameters: [
        { key: "a", schema: { schema_type: "primitive", type: "integer" }, description: { "m.text": [{ body: "an integer" }] } },
        { key: "b", schema: { schema_type: "primitive", type: "integer" }, description: { "m.text": [{ body: "an integer" }] } },
      ],
      description: { "m.text": [{ body: "Adds two numbers." }] },
    });
    const greet = byName.get("greet")?.content as { parameters: { key: string; schema: { type?: string }; optional?: boolean }[] };
    assert.deepEqual(greet.parameters.map((p) => [p.key, p.schema.type, p.optional ?? false]), [
      ["who", "user_id", false],
      ["times", "integer", true],
      ["note", "string", true],
    ]);
    // The first PUT was refused for longer than the transport waits: the publisher paused and came back.
    assert.ok(lines.some((l) => l.msg === "publishing commands: rate limited, pausing" && l.fields.waitMs === 700), "the publisher waited retry_after_ms");
    const puts = faults.log.filter((r) => r.method === "PUT" && r.path.includes(`/state/${TYPE}/`));
    assert.equal(puts.filter((r) => r.fault === "status").length, 1);
    // Five visible commands, one refused attempt: nothing was sent twice.
    assert.equal(puts.length, 6, puts.map((p) => `${p.path} ${p.fault ?? ""}`).join("\n"));
  });

  test("structured invocations run through the same path as text, answers included", async () => {
    await alice.invoke(room, bot.userId, "add", { a: 2, b: 3 }, "/add two and three");
    await alice.expectReply(room, /^5$/);
    assert.deepEqual((await alice.commandDescriptions(room, bot.userId)).get("add")?.command, "add");
    await alice.say(room, "/greet", { content: structured("GREET", { who: "@zed:example.org", note: "hi  there" }) });
    await alice.expectReply(room, /^hello @zed:example\.org x1 \(hi {2}there\)$/);
    // The same checks.
    await alice.invoke(room, bot.userId, "admin");
    await alice.expectReply(room, /^Only the bot's owner can use this command\.$/);
    // Text and structured share the cooldown.
    await alice.say(room, "!once");
    await alice.expectReply(room, /^ran once$/);
    await alice.say(room, "/once", { content: structured("once") });
    await alice.expectReply(room, /^This command is on cooldown\. Try again in \d+s\.$|^This command is on cooldown\. Try again in 1m\.$/);
  });

  test("hostile structured input gets clear replies and the bot keeps going", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [structured("add", { a: "two", b: 3 }), /^Argument "a": expected an integer, got "two"$/],
      [structured("add", { a: 1 }), /^Missing required argument "b"\. Usage: !add <a> <b>$/],
      [structured("add", { a: 1, b: 2, c: 3 }), /^Unknown argument "c"\. Usage: !add <a> <b>$/],
      [structured("add", { a: [1, 2], b: 2 }), /^Argument "a": expected an integer, got "a list" \(give one value\)$/],
      [structured("add", { a: "9".repeat(20_000), b: 2 }), /^Argument "a": expected an integer, got ".*" \(longer than 16384 characters\)$/],
      [structured("nope", {}), /^No command named "nope"\.$/],
      [structured("add", [1, 2]), /^I could not read this command: the arguments are not an object\.$/],
      [{ "m.mentions": { user_ids: [bot.userId] }, [COMMAND_INVOCATION_KEY]: "add 1 2" }, /^I could not read this command: org\.matrix\.msc4391\.command is not an object\.$/],
    ];
    for (const [content, reply] of cases) {
      await alice.say(room, "/x", { content });
      await alice.expectReply(room, reply);
    }
    // Addressed to another bot: not ours, not even as text.
    await alice.say(room, "!add 1 1", { content: structured("add", { a: 1, b: 1 }, "@otherbot:example.org") });
    await alice.expectNoReply(room, 1_500);
    await alice.say(room, "!add 20 22");
    await alice.expectReply(room, /^42$/);
  });

  test("mounting a module publishes its commands; unmounting clears them; unchanged ones are not resent", async () => {
    await eventually("the descriptions", async () => ((await published(room)).has("add") ? true : undefined));
    const putsBefore = descriptionPuts();
    const weather = defineModule({
      name: "weather",
      commands: [defineCommand("forecast", { args: "<city> [days:int]", description: "Tells the weather." }, (ctx, { city }) => ctx.respond(`sunny in ${city}`))],
    });
    await bot.mount(weather);
    const forecast = await eventually("the forecast description", async () => (await published(room)).get("forecast"));
    assert.deepEqual((forecast.content.parameters as { key: string }[]).map((p) => p.key), ["city", "days"]);
    // Descriptions go out in registration order, so the others would have been resent by now.
    assert.equal(descriptionPuts() - putsBefore, 1, "only the new command's description was sent");
    await alice.invoke(room, bot.userId, "forecast", { city: "Oslo" });
    await alice.expectReply(room, /^sunny in Oslo$/);

    await bot.unmount("weather");
    const cleared = await eventually("the forecast description to be cleared", async () => {
      const got = await published(room);
      return got.has("forecast") ? undefined : got.get(`cleared:${commandStateKey("forecast", bot.userId)}`);
    });
    assert.deepEqual(cleared.content, {});
    assert.equal(descriptionPuts() - putsBefore, 2, "unmounting sent only the removal");
    await alice.say(room, "/forecast", { content: structured("forecast", { city: "Oslo" }) });
    await alice.expectReply(room, /^No command named "forecast"\.$/);
  });

  test("a room where the bot lacks the power level gets no attempt, until the level is raised", async () => {
    const bob = await hs.user("bob");
    const low = await bob.createRoom({ invite: [bot.userId] });
    await eventually("the skip", async () => (lines.some((l) => l.msg === "publishing commands: power level too low, skipping room" && l.fields.roomId === low) ? true : undefined));
    assert.equal(faults.log.filter((r) => r.method === "PUT" && decodeURIComponent(r.path).includes(`/rooms/${low}/state/`)).length, 0, "no state PUT was tried");
    assert.equal((await published(low, bob)).size, 0);
    const levels = (await bob.roomState(low, "m.room.power_levels")) ?? {};
    await bob.client.api.rooms.putState(low, "m.room.power_levels", "", { ...levels, events: { ...(levels.events as object), [TYPE]: 0 } });
    await eventually("descriptions after the power levels changed", async () => ((await published(low, bob)).has("add") ? true : undefined));
  });

  test("after a restart without a command, its description is cleared (from the stored state)", async () => {
    const onceKey = commandStateKey("once", bot.userId);
    assert.ok((await published(room)).has("once"));
    const { homeserver, userId } = bot.options;
    await bot.stop();
    const putsBefore = descriptionPuts(room);
    bot = makeBot(homeserver, userId, false);
    await bot.start();
    const cleared = await eventually("the once description to be cleared", async () => (await published(room)).get(`cleared:${onceKey}`));
    assert.deepEqual(cleared.content, {});
    // The sync resumed from the store (no full state): what was current came from the stored room state.
    assert.ok((await published(room)).has("add"));
    assert.equal(descriptionPuts(room) - putsBefore, 1, "only the removal was sent");
  });
});
