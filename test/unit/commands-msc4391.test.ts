/**
 * MSC4391 without a server: signature → command description, the state key, reading structured
 * invocations and parsing their arguments (hostile ones included), power levels for publishing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { arg, args, rest, signature, specsOf, variadic } from "../../src/commands/arguments.js";
import { Command, defineCommand } from "../../src/commands/command.js";
import { CommandArgumentsError, CommandError, CommandParserError } from "../../src/commands/errors.js";
import { defaultMessages, errorMessage } from "../../src/commands/messages.js";
import { canonicalJson, describeCommand, describeCommands, sameContent } from "../../src/commands/msc4391/description.js";
import {
  MAX_STRUCTURED_ITEMS,
  MAX_STRUCTURED_VALUE_LENGTH,
  parseStructuredArguments,
  readStructuredInvocation,
} from "../../src/commands/msc4391/invocation.js";
import { stateEventLevel } from "../../src/commands/msc4391/publisher.js";
import { COMMAND_DESCRIPTION_EVENT_TYPE, COMMAND_INVOCATION_KEY, commandStateKey } from "../../src/commands/msc4391/schema.js";
import { choice, float, integer, type ArgumentParser, type ParseContext } from "../../src/commands/parsers.js";

const ctx: ParseContext = {
  botUserId: "@bot:x.org",
  roomId: "!here:x.org",
  sender: "@alice:x.org",
  resolveRoomAlias: (alias) => (alias === "#known:x.org" ? Promise.resolve("!known:x.org") : Promise.reject(new Error("no such alias"))),
};

/** A registered-style command from untyped options (the declaration forms are tested elsewhere). */
function command(name: string, options: Record<string, unknown>): Command {
  return new Command(defineCommand(name, options, () => undefined) as never);
}

describe("signature → command description", () => {
  test("types, optional parameters and the summary come from the signature and the description", () => {
    const ban = command("ban", {
      args: "<target:user> <room:room> <hours:int> [notify:bool] [reason...]",
      description: "Bans someone.\nLonger text that only help <command> shows.",
    });
    assert.deepEqual(describeCommand(ban), {
      command: "ban",
      parameters: [
        { key: "target", schema: { schema_type: "primitive", type: "user_id" }, description: { "m.text": [{ body: "a user ID, mention or matrix.to link" }] } },
        {
          key: "room",
          schema: { schema_type: "union", variants: [{ schema_type: "primitive", type: "room_id" }, { schema_type: "primitive", type: "room_alias" }] },
          description: { "m.text": [{ body: "a room ID, alias or matrix.to link" }] },
        },
        { key: "hours", schema: { schema_type: "primitive", type: "integer" }, description: { "m.text": [{ body: "an integer" }] } },
        { key: "notify", schema: { schema_type: "primitive", type: "boolean" }, optional: true, description: { "m.text": [{ body: "yes or no" }] } },
        { key: "reason", schema: { schema_type: "primitive", type: "string" }, optional: true, description: { "m.text": [{ body: "some text" }] } },
      ],
      description: { "m.text": [{ body: "Bans someone." }] },
    });
  });

  test("variadic arguments are arrays, choices unions of literals, defaults optional, argument descriptions win", () => {
    const tag = command("tag", {
      args: args(
        arg("mode", choice(["add", "remove"] as const)).describe("what to do"),
        arg("when", float()).default(1.5),
        arg("ids", variadic(integer({ min: 1 }))).optional(),
      ),
    });
    const [mode, when, ids] = describeCommand(tag).parameters;
    assert.deepEqual(mode, {
      key: "mode",
      schema: {
        schema_type: "union",
        variants: [
          { schema_type: "literal", value: "add", literal_type: "string" },
          { schema_type: "literal", value: "remove", literal_type: "string" },
        ],
      },
      description: { "m.text": [{ body: "what to do" }] },
    });
    assert.deepEqual(ids?.schema, { schema_type: "array", items: { schema_type: "primitive", type: "integer" } });
    assert.equal(ids?.optional, true, "an optional variadic may be empty");
    // MSC4391 has no fractional type: a float travels as text and is parsed as typed.
    assert.deepEqual(when?.schema, { schema_type: "primitive", type: "string" });
    assert.equal(when?.optional, true);
    assert.equal(describeCommand(tag).description, undefined);
  });

  test("an optional variadic, an event, a base-16 integer, custom parsers with and without a schema", () => {
    const plain: ArgumentParser<string> = { type: "a colour", parse: (raw) => raw };
    const typed: ArgumentParser<string> = { type: "a server", schema: { schema_type: "primitive", type: "server_name" }, parse: (raw) => raw };
    const c = command("x", {
      args: signature("<e:event> <h:hex> <c:colour> <s:server> [more:int*]", { types: { hex: integer({ base: 16 }), colour: plain, server: typed } }),
    });
    const schemas = describeCommand(c).parameters.map((p) => [p.key, p.schema, p.optional]);
    assert.deepEqual(schemas, [
      ["e", { schema_type: "primitive", type: "event_id" }, undefined],
      ["h", { schema_type: "primitive", type: "string" }, undefined],
      ["c", { schema_type: "primitive", type: "string" }, undefined],
      ["s", { schema_type: "primitive", type: "server_name" }, undefined],
      ["more", { schema_type: "array", items: { schema_type: "primitive", type: "integer" } }, true],
    ]);
  });

  test("the state key is the MSC's: padded base64 of sha256(command + mxid)", () => {
    // The MSC's own example state key for Draupnir's ban command.
    assert.equal(commandStateKey("ban", "@draupnir:draupnir.space"), "JBDLR6YMe+72yqsEMi/MVdTmjN3ynPThMz+M7QLATZQ=");
    assert.notEqual(commandStateKey("ban", "@other:x.org"), commandStateKey("ban", "@draupnir:draupnir.space"));
  });

  test("describeCommands keys by state key and leaves hidden commands out", () => {
    const shown = command("shown", {});
    const hidden = command("secret", { hidden: true });
    const map = describeCommands([shown, hidden], "@bot:x.org");
    assert.deepEqual([...map.keys()], [commandStateKey("shown", "@bot:x.org")]);
    assert.equal(map.get(commandStateKey("shown", "@bot:x.org"))?.command, "shown");
  });

  test("unstable identifiers are the MSC's", () => {
    assert.equal(COMMAND_DESCRIPTION_EVENT_TYPE, "org.matrix.msc4391.command_description");
    assert.equal(COMMAND_INVOCATION_KEY, "org.matrix.msc4391.command");
  });

  test("content comparison ignores key order", () => {
    assert.ok(sameContent({ a: 1, b: [{ x: 1, y: 2 }] }, { b: [{ y: 2, x: 1 }], a: 1 }));
    assert.ok(!sameContent({ a: 1 }, { a: 2 }));
    assert.ok(!sameContent({ a: [1, 2] }, { a: [2, 1] }));
    assert.equal(canonicalJson({ b: 1, a: undefined, c: "x" }), '{"b":1,"c":"x"}');
  });
});

describe("reading a structured invocation", () => {
  const bot = "@bot:x.org";
  const base = { body: "/add 2 3", msgtype: "m.text", "m.mentions": { user_ids: [bot] } };

  test("a block addressed to the bot", () => {
    const got = readStructuredInvocation({ ...base, [COMMAND_INVOCATION_KEY]: { command: "add", arguments: { a: 2, b: 3 } } }, bot);
    assert.deepEqual(got, { kind: "command", name: "add", arguments: { a: 2, b: 3 } });
    assert.deepEqual(readStructuredInvocation({ ...base, [COMMAND_INVOCATION_KEY]: { command: "ping" } }, bot), { kind: "command", name: "ping", arguments: {} });
  });

  test("no block: the text form; a block for another bot (or none named): not ours", () => {
    assert.deepEqual(readStructuredInvocation(base, bot), { kind: "none" });
    const block = { [COMMAND_INVOCATION_KEY]: { command: "add" } };
    assert.deepEqual(readStructuredInvocation({ ...base, ...block, "m.mentions": { user_ids: ["@other:x.org"] } }, bot), { kind: "elsewhere" });
    assert.deepEqual(readStructuredInvocation({ body: "x", msgtype: "m.text", ...block }, bot), { kind: "elsewhere" });
    assert.deepEqual(readStructuredInvocation({ ...base, ...block, "m.mentions": { user_ids: "nope" } }, bot), { kind: "elsewhere" });
  });

  test("property: any JSON content is read without throwing", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.oneof(fc.constant({ user_ids: [bot] }), fc.jsonValue()), (block, mentions) => {
        const got = readStructuredInvocation({ ...base, "m.mentions": mentions, [COMMAND_INVOCATION_KEY]: block }, bot);
        assert.ok(["elsewhere", "malformed", "command"].includes(got.kind));
      }),
      { numRuns: 500 },
    );
  });

  test("hostile blocks are malformed, with a reason", () => {
    const cases: unknown[] = [
      "add",
      null,
      [1, 2],
      {},
      { command: 42 },
      { command: "   " },
      { command: "x".repeat(257) },
      { command: "add", arguments: [1, 2] },
      { command: "add", arguments: "a=1" },
    ];
    for (const block of cases) {
      const got = readStructuredInvocation({ ...base, [COMMAND_INVOCATION_KEY]: block }, bot);
      assert.equal(got.kind, "malformed", JSON.stringify(block)?.slice(0, 40));
      assert.ok(got.kind === "malformed" && got.reason.length > 0);
    }
  });
});

async function parseError(specsOf_: Parameters<typeof parseStructuredArguments>[0], value: Record<string, unknown>): Promise<CommandError> {
  try {
    await parseStructuredArguments(specsOf_, value, ctx, { usage: "!cmd" });
  } catch (error) {
    if (error instanceof CommandError) return error;
    throw error;
  }
  assert.fail("expected a command error");
}

describe("parsing structured arguments", () => {
  const add = specsOf("<a:int> <b:int>");

  test("JSON values go through the same parsers as text", async () => {
    assert.deepEqual(await parseStructuredArguments(add, { a: 2, b: -3 }, ctx, { usage: "!add <a> <b>" }), { a: 2, b: -3 });
    // A client that sends text gets it parsed exactly like the text form.
    assert.deepEqual(await parseStructuredArguments(add, { a: "0x10", b: "4" }, ctx, { usage: "" }), { a: 16, b: 4 });
    const mixed = specsOf("<who:user> <where:room> [loud:bool] [tags:string*]");
    assert.deepEqual(
      await parseStructuredArguments(mixed, { who: "@a:x.org", where: { type: "room_id", id: "!r:x.org", via: ["x.org"] }, loud: true, tags: ["a", "b c"] }, ctx, { usage: "" }),
      { who: "@a:x.org", where: "!r:x.org", loud: true, tags: ["a", "b c"] },
    );
    // A greedy argument takes the value whole, spaces and all.
    assert.deepEqual(await parseStructuredArguments(specsOf("<n:int> [why...]"), { n: 1, why: "too  loud" }, ctx, { usage: "" }), { n: 1, why: "too  loud" });
    // The MSC's prose names the field room_id; an alias is resolved as in text.
    assert.deepEqual(await parseStructuredArguments(mixed, { who: "@a:x.org", where: { room_id: "!r:x.org" } }, ctx, { usage: "" }), { who: "@a:x.org", where: "!r:x.org", tags: [] });
    assert.deepEqual(await parseStructuredArguments(mixed, { who: "@a:x.org", where: "#known:x.org", loud: null }, ctx, { usage: "" }), { who: "@a:x.org", where: "!known:x.org", tags: [] });
  });

  test("an event reference keeps its room", async () => {
    const specs = specsOf("<e:event>");
    assert.deepEqual(await parseStructuredArguments(specs, { e: { type: "event_id", id: "!r:x.org", event_id: "$ev", via: ["x.org", 7] } }, ctx, { usage: "" }), {
      e: { roomId: "!r:x.org", eventId: "$ev" },
    });
    assert.deepEqual(await parseStructuredArguments(specs, { e: "$ev" }, ctx, { usage: "" }), { e: { eventId: "$ev" } });
  });

  test("defaults apply to absent values; a single value for a variadic is a list of one", async () => {
    const specs = specsOf("<n:int> [times:int=3] [ids:int*]");
    assert.deepEqual(await parseStructuredArguments(specs, { n: 1 }, ctx, { usage: "" }), { n: 1, times: 3, ids: [] });
    assert.deepEqual(await parseStructuredArguments(specs, { n: 1, ids: 5 }, ctx, { usage: "" }), { n: 1, times: 3, ids: [5] });
  });

  test("wrong types are argument errors naming the argument", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ a: true, b: 1 }, /^Argument "a": expected an integer, got "true"$/],
      [{ a: 1.5, b: 1 }, /^Argument "a": expected an integer, got "1.5"$/],
      [{ a: 1e300, b: 1 }, /^Argument "a": expected an integer/],
      [{ a: 1, b: [1, 2] }, /^Argument "b": expected an integer, got "a list" \(give one value\)$/],
      [{ a: 1, b: { x: 1 } }, /^Argument "b": expected an integer, got "an object" \(a room reference needs an "id"\)$/],
      [{ a: "x".repeat(MAX_STRUCTURED_VALUE_LENGTH + 1), b: 1 }, new RegExp(`^Argument "a": expected an integer, got ".*" \\(longer than ${MAX_STRUCTURED_VALUE_LENGTH} characters\\)$`)],
    ];
    for (const [value, message] of cases) {
      const error = await parseError(add, value);
      assert.ok(error instanceof CommandParserError, String(error));
      assert.match(error.message, message);
      assert.match(errorMessage(error, defaultMessages, "!add <a> <b>"), message);
    }
    const list = specsOf("<ids:int*>");
    const tooMany = await parseError(list, { ids: Array.from({ length: MAX_STRUCTURED_ITEMS + 1 }, (_, i) => i) });
    assert.match(tooMany.message, new RegExp(`at most ${MAX_STRUCTURED_ITEMS} items`));
    assert.match((await parseError(list, { ids: [[1]] })).message, /a list inside a list/);
    assert.match((await parseError(list, { ids: [1, "x"] })).message, /^Argument "ids": expected an integer, got "x"$/);
  });

  test("unknown and missing arguments are usage errors", async () => {
    const unknown = await parseError(add, { a: 1, b: 2, c: 3 });
    assert.ok(unknown instanceof CommandArgumentsError && unknown.reason === "unknown" && unknown.argument === "c");
    assert.equal(errorMessage(unknown, defaultMessages), 'Unknown argument "c". Usage: !cmd');
    const proto = await parseError(add, JSON.parse('{"__proto__": 1, "a": 1, "b": 2}') as Record<string, unknown>);
    assert.ok(proto instanceof CommandArgumentsError && proto.argument === "__proto__");
    const long = await parseError(add, { ["k".repeat(500)]: 1 });
    assert.ok(long instanceof CommandArgumentsError && (long.argument?.length ?? 0) <= 60);
    const missing = await parseError(add, { a: 1 });
    assert.equal(errorMessage(missing, defaultMessages), 'Missing required argument "b". Usage: !cmd');
    assert.equal(errorMessage(await parseError(add, { a: 1, b: null }), defaultMessages), 'Missing required argument "b". Usage: !cmd');
    assert.equal(errorMessage(await parseError(specsOf("<ids:int*>"), { ids: [] }), defaultMessages), 'Missing required argument "ids". Usage: !cmd');
  });

  test("property: any JSON arguments object gives a value or a CommandError, never anything else", async () => {
    const specs = [specsOf("<a:int> <b:int>"), specsOf("<who:user> [n:float] [rest...]"), specsOf("[xs:bool*]"), specs2()];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...specs), fc.dictionary(fc.constantFrom("a", "b", "who", "n", "rest", "xs", "mode", "zzz", "__proto__"), fc.jsonValue()), async (s, value) => {
        try {
          await parseStructuredArguments(s, value as Record<string, unknown>, ctx, { usage: "" });
        } catch (error) {
          assert.ok(error instanceof CommandError, `not a CommandError: ${String(error)}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

function specs2(): ReturnType<typeof specsOf> {
  return args(arg("mode", choice(["a", "b"] as const)), arg("rest", rest()).optional()).specs;
}

describe("power level to publish", () => {
  const type = COMMAND_DESCRIPTION_EVENT_TYPE;
  test("events[type], else state_default, else 50; no power levels at all: 0", () => {
    assert.equal(stateEventLevel(undefined, type), 0);
    assert.equal(stateEventLevel({}, type), 50);
    assert.equal(stateEventLevel({ state_default: 100 }, type), 100);
    assert.equal(stateEventLevel({ state_default: 100, events: { [type]: 10 } }, type), 10);
    assert.equal(stateEventLevel({ state_default: 20, events: { [type]: "nonsense" as unknown as number } }, type), 20);
    assert.equal(stateEventLevel({ events: { [type]: "5" as unknown as number } }, type), 5);
  });
});
