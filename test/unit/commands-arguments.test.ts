import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { arg, args, rest, signature, specsOf, usageOf, variadic } from "../../src/commands/arguments.js";
import {
  CheckFailure,
  CommandArgumentsError,
  CommandDisabledError,
  CommandError,
  CommandOnCooldown,
  CommandParserError,
  InsufficientPower,
  NotADirectRoom,
  NotOwner,
  formatDuration,
  quoteInput,
} from "../../src/commands/errors.js";
import { parseArguments } from "../../src/commands/parse.js";
import { choice, integer, room, string, user, type ArgumentParser, type ParseContext } from "../../src/commands/parsers.js";
import { compileSignature } from "../../src/commands/signature.js";
import { splitWithOffsets } from "../../src/commands/split.js";

const resolved: string[] = [];
function context(formattedBody?: string): ParseContext {
  return {
    botUserId: "@bot:x.org",
    roomId: "!here:x.org",
    sender: "@alice:x.org",
    ...(formattedBody === undefined ? {} : { formattedBody }),
    resolveRoomAlias: (alias) => {
      resolved.push(alias);
      return alias === "#lobby:x.org" ? Promise.resolve("!lobby:x.org") : Promise.reject(new Error("M_NOT_FOUND"));
    },
  };
}
const ctx = context();
const BAN = "<user:user> <count:int> [reason...]";

describe("parseArguments with a signature string", () => {
  test("parses required, optional and greedy arguments", async () => {
    assert.deepEqual(await parseArguments(BAN, "@a:x.org 3", ctx), { user: "@a:x.org", count: 3 });
    assert.deepEqual(await parseArguments(BAN, `@a:x.org 3 too  "loud"  `, ctx), { user: "@a:x.org", count: 3, reason: 'too  "loud"' });
  });

  test("the greedy argument takes the raw rest verbatim, even text that wouldn't split", async () => {
    assert.deepEqual(await parseArguments("[text...]", ` hello   "world"`, ctx), { text: `hello   "world"` });
    assert.deepEqual(await parseArguments("<n:int> <text...>", `1 'tis the season`, ctx), { n: 1, text: "'tis the season" });
    assert.deepEqual(await parseArguments("<data:json...>", `{"a": [1, 2]}`, ctx), { data: { a: [1, 2] } });
  });

  test("quoted arguments reach the parser without their quotes", async () => {
    assert.deepEqual(await parseArguments("<a> <b>", `"x y" ''`, ctx), { a: "x y", b: "" });
  });

  test("defaults are parsed by the argument's parser; absent optionals are left out", async () => {
    const parsed = await parseArguments("<a> [n:int=0x10] [flag:bool=yes] [word] [why...=none]", "x", ctx);
    assert.deepEqual(parsed, { a: "x", n: 16, flag: true, why: "none" });
    assert.ok(!("word" in parsed));
  });

  test("variadic arguments: required needs one, optional may be empty", async () => {
    assert.deepEqual(await parseArguments("<ids:int*>", "1 0x2 3", ctx), { ids: [1, 2, 3] });
    assert.deepEqual(await parseArguments("<a> [tags*]", "x", ctx), { a: "x", tags: [] });
    await assert.rejects(parseArguments("<ids:int*>", "", ctx), { name: "CommandArgumentsError", message: 'Missing required argument "ids". Usage: <ids...>' });
    await assert.rejects(parseArguments("<ids:int*>", "1 x 3", ctx), { message: 'Argument "ids": expected an integer, got "x"' });
  });

  test("choices in signatures give the canonical value", async () => {
    assert.deepEqual(await parseArguments("<mode:(on|off|auto)>", "AUTO", ctx), { mode: "auto" });
    await assert.rejects(parseArguments("<mode:(on|off)>", "up", ctx), {
      message: 'Argument "mode": expected one of "on", "off", got "up"',
    });
  });

  test("a missing required argument is a CommandArgumentsError with the usage", async () => {
    await assert.rejects(parseArguments(BAN, "@a:x.org", ctx), (err: unknown) => {
      assert.ok(err instanceof CommandArgumentsError);
      assert.equal(err.reason, "missing");
      assert.equal(err.argument, "count");
      assert.equal(err.usage, "<user> <count> [reason...]");
      assert.equal(err.message, 'Missing required argument "count". Usage: <user> <count> [reason...]');
      return true;
    });
  });

  test("too many arguments is a CommandArgumentsError counting what was given", async () => {
    await assert.rejects(parseArguments("<a> [b]", "1 2 3 '4", ctx), (err: unknown) => {
      assert.ok(err instanceof CommandArgumentsError);
      assert.equal(err.reason, "too-many");
      assert.equal(err.message, "Too many arguments (expected at most 2, got 4). Usage: <a> [b]");
      return true;
    });
    await assert.rejects(parseArguments("", "x", ctx), {
      message: "Too many arguments (expected no arguments, got 1). This command takes no arguments.",
    });
  });

  test("a parse failure names the argument and what was expected", async () => {
    await assert.rejects(parseArguments(BAN, "@a:x.org abc", ctx), (err: unknown) => {
      assert.ok(err instanceof CommandParserError);
      assert.equal(err.message, 'Argument "count": expected an integer, got "abc"');
      assert.equal(err.argument, "count");
      assert.equal(err.expected, "an integer");
      assert.equal(err.received, "abc");
      assert.ok(err.cause instanceof CommandParserError);
      return true;
    });
  });

  test("arity is checked before any parser runs, so no alias is resolved in vain", async () => {
    resolved.length = 0;
    await assert.rejects(parseArguments("<r:room>", "#lobby:x.org extra", ctx), CommandArgumentsError);
    assert.deepEqual(resolved, []);
    assert.deepEqual(await parseArguments("<r:room>", "#lobby:x.org", ctx), { r: "!lobby:x.org" });
    assert.deepEqual(resolved, ["#lobby:x.org"]);
  });

  test("an unterminated quote in a non-greedy position is reported", async () => {
    await assert.rejects(parseArguments("<a> <b>", `x "y`, ctx), { message: `unterminated quote " starting at position 2` });
  });

  test("a multi-word mention pill is one argument, mapped to its user", async () => {
    const c = context('<a href="https://matrix.to/#/@alice:x.org">Alice Smith</a> 3 spamming');
    assert.deepEqual(await parseArguments(BAN, "Alice Smith 3 spamming", c), { user: "@alice:x.org", count: 3, reason: "spamming" });
  });

  test("usage can be overridden for the error message", async () => {
    await assert.rejects(parseArguments(BAN, "", ctx, { usage: "!ban <user> <count> [reason...]" }), {
      message: 'Missing required argument "user". Usage: !ban <user> <count> [reason...]',
    });
  });
});

describe("parseArguments with pre-split tokens", () => {
  test("greedy arguments use the text when given, else the joined values", async () => {
    const text = `@a:x.org 2  "very"   loud`;
    const tokens = splitWithOffsets(text);
    assert.deepEqual(await parseArguments(BAN, tokens, ctx, { text }), { user: "@a:x.org", count: 2, reason: `"very"   loud` });
    assert.deepEqual(await parseArguments(BAN, tokens, ctx), { user: "@a:x.org", count: 2, reason: "very loud" });
    await assert.rejects(parseArguments("<a>", tokens, ctx), { message: /got 4/ });
  });
});

describe("parseArguments with the builder form", () => {
  test("async custom parsers, defaults as values, descriptions", async () => {
    const slow: ArgumentParser<number> = {
      type: "a slow number",
      parse: async (raw) => {
        await new Promise((r) => setTimeout(r, 1));
        if (!/^\d+$/.test(raw)) throw CommandParserError.invalid("a slow number", raw);
        return Number(raw);
      },
    };
    const decl = args(arg("n", slow).describe("how many"), arg("mode", choice(["a", "b"])).default("b"));
    assert.deepEqual(await parseArguments(decl, "5", ctx), { n: 5, mode: "b" });
    await assert.rejects(parseArguments(decl, "x", ctx), { message: 'Argument "n": expected a slow number, got "x"' });
    assert.equal(decl.specs[0]?.description, "how many");
    assert.equal(usageOf(decl), "<n> [mode=b]");
  });

  test("errors other than CommandParserError propagate untouched", async () => {
    const buggy: ArgumentParser<string> = {
      type: "anything",
      parse: () => {
        throw new RangeError("bug");
      },
    };
    await assert.rejects(parseArguments(args(arg("x", buggy)), "1", ctx), RangeError);
  });

  test("an invalid default is a TypeError, not the sender's fault", async () => {
    await assert.rejects(parseArguments("[n:int=abc]", "", ctx), { name: "TypeError", message: 'Invalid default "abc" for argument "n"' });
  });

  test('an argument named "__proto__" is an own property, not a prototype change', async () => {
    const parsed: Record<string, unknown> = await parseArguments(args(arg("__proto__", string())), "x", ctx);
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(parsed, "__proto__")?.value, "x");
  });

  test("structural mistakes throw when declared", () => {
    assert.throws(() => args(arg("a", string()), arg("a", string())), { name: "SyntaxError", message: /duplicate argument "a"/ });
    assert.throws(() => args(arg("a", rest()), arg("b", string())), /"a" takes the rest of the line/);
    assert.throws(() => args(arg("a", variadic(integer())), arg("b", string())), /"a" takes the rest of the line/);
    assert.throws(() => args(arg("a", string()).optional(), arg("b", user())), /required argument "b" cannot follow an optional one/);
    assert.throws(() => args(arg("a", string()).default("x"), arg("b", room())), /required argument "b"/);
  });
});

describe("signatures at run time", () => {
  test("compileSignature records modes, requiredness and defaults", () => {
    const specs = compileSignature("<a:int> [b=x] [c:(p|q)*]");
    assert.deepEqual(
      specs.map(({ name, mode, required, default: d }) => ({ name, mode, required, d })),
      [
        { name: "a", mode: "single", required: true, d: undefined },
        { name: "b", mode: "single", required: false, d: { kind: "raw", raw: "x" } },
        { name: "c", mode: "variadic", required: false, d: undefined },
      ],
    );
  });

  test("rejects the same mistakes the types reject", () => {
    for (const [sig, why] of [
      ["<n:itn>", /unknown type "itn"/],
      ["<1x>", /name "1x" must be letters/],
      ["<>", /name "" must be/],
      ["x", /write <name>, \[name\] or \[name=default\]/],
      ["<a> <a>", /duplicate argument "a"/],
      ["[a...] <b>", /"a" takes the rest of the line/],
      ["[a] <b>", /required argument "b" cannot follow/],
      ["[a:int*=1]", /variadic argument cannot have a default/],
      ["<m:()>", /unknown type "\(\)"/],
      ["<m:(a||b)>", /unknown type/],
    ] as const) {
      assert.throws(() => compileSignature(sig), { name: "SyntaxError", message: why }, sig);
    }
  });

  test("bare signature strings are compiled once and cached", () => {
    assert.equal(specsOf(BAN), specsOf(BAN));
  });

  test("usageOf shows requiredness, greedy/variadic dots and defaults", () => {
    assert.equal(usageOf(BAN), "<user> <count> [reason...]");
    assert.equal(usageOf("<ids:int*>"), "<ids...>");
    assert.equal(usageOf("<a> [n:int=5] [t*]"), "<a> [n=5] [t...]");
    assert.equal(usageOf(""), "");
    assert.equal(usageOf(signature("<x> [why...=none]")), "<x> [why...=none]");
  });
});

describe("errors", () => {
  test("every class names itself and descends from CommandError", () => {
    const all: [CommandError, string][] = [
      [new CommandError("x"), "CommandError"],
      [CommandArgumentsError.missing("a", "<a>"), "CommandArgumentsError"],
      [CommandParserError.invalid("an integer", "x"), "CommandParserError"],
      [new CheckFailure("custom"), "CheckFailure"],
      [new NotOwner(), "NotOwner"],
      [new InsufficientPower(50, 0), "InsufficientPower"],
      [new NotADirectRoom(), "NotADirectRoom"],
      [new CommandDisabledError("ban"), "CommandDisabledError"],
      [new CommandOnCooldown(1500), "CommandOnCooldown"],
    ];
    for (const [err, name] of all) {
      assert.equal(err.name, name);
      assert.ok(err instanceof CommandError && err instanceof Error);
      assert.ok(String(err).startsWith(`${name}: `));
    }
  });

  test("check failures carry their check name and helpful messages", () => {
    assert.equal(new NotOwner().check, "owner");
    assert.ok(new NotOwner() instanceof CheckFailure);
    const power = new InsufficientPower(50, 10);
    assert.equal(power.check, "power-level");
    assert.deepEqual([power.required, power.actual], [50, 10]);
    assert.equal(power.message, "You need power level 50 to use this command (you have 10).");
    assert.equal(new NotADirectRoom().check, "direct-room");
    assert.equal(new CheckFailure("is-admin").message, "You can't use this command here.");
    assert.equal(new CommandDisabledError("ban").message, 'The command "ban" is currently disabled.');
  });

  test("cooldown reports the wait, rounded up", () => {
    const err = new CommandOnCooldown(61_500);
    assert.equal(err.retryAfterMs, 61_500);
    assert.equal(err.message, "This command is on cooldown. Try again in 1m 2s.");
    assert.deepEqual([0, 1, 999, 1000, 3_600_000, 3_723_000].map(formatDuration), ["1s", "1s", "1s", "1s", "1h", "1h 2m 3s"]);
  });

  test("long input is truncated when quoted back", () => {
    assert.equal(quoteInput("abc"), '"abc"');
    const long = quoteInput("x".repeat(500));
    assert.ok(long.length < 70 && long.endsWith('…"'));
    assert.equal(new CommandParserError("unterminated").forArgument("a").message, 'Argument "a": unterminated');
  });
});
