import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CommandParserError } from "../../src/commands/errors.js";
import { extractLinks, userPills } from "../../src/commands/matrix.js";
import { decodeHtmlEntities, parseMatrixLink } from "../../src/ids/index.js";
import {
  boolean,
  builtinParsers,
  choice,
  event,
  float,
  integer,
  json,
  matrixTo,
  mxc,
  room,
  string,
  user,
  type ArgumentParser,
  type ParseContext,
} from "../../src/commands/parsers.js";

const aliases: Record<string, string> = { "#lobby:x.org": "!lobby:x.org" };
function context(formattedBody?: string): ParseContext {
  return {
    botUserId: "@bot:x.org",
    roomId: "!here:x.org",
    sender: "@alice:x.org",
    ...(formattedBody === undefined ? {} : { formattedBody }),
    resolveRoomAlias: (alias) => {
      const id = aliases[alias];
      return id === undefined ? Promise.reject(new Error(`M_NOT_FOUND ${alias}`)) : Promise.resolve(id);
    },
  };
}
const ctx = context();

async function ok<T>(parser: ArgumentParser<T>, raw: string, expected: T, c = ctx): Promise<void> {
  assert.deepEqual(await parser.parse(raw, c), expected, `parse(${JSON.stringify(raw)})`);
}
async function bad<T>(parser: ArgumentParser<T>, raw: string, c = ctx): Promise<CommandParserError> {
  try {
    const value = await parser.parse(raw, c);
    assert.fail(`parse(${JSON.stringify(raw)}) should fail, gave ${JSON.stringify(value)}`);
  } catch (err) {
    assert.ok(err instanceof CommandParserError, `parse(${JSON.stringify(raw)}) threw ${String(err)}`);
    assert.equal(err.expected, parser.type);
    assert.equal(err.received, raw);
    return err;
  }
}

describe("string", () => {
  test("returns the input unchanged", async () => {
    await ok(string(), "", "");
    await ok(string(), " a  b ", " a  b ");
  });
});

describe("integer", () => {
  test("decimal with optional sign", async () => {
    for (const [raw, n] of [["42", 42], ["-7", -7], ["+3", 3], ["0", 0], ["007", 7]] as const) await ok(integer(), raw, n);
  });
  test("base prefixes in base 10, any case, with sign", async () => {
    for (const [raw, n] of [["0x1f", 31], ["0X1F", 31], ["0o17", 15], ["0b101", 5], ["-0x10", -16]] as const) {
      await ok(integer(), raw, n);
    }
  });
  test("rejects non-integers with a clear message", async () => {
    for (const raw of ["", "abc", "12abc", "1.5", "0x", "--1", "1e3", " 1", "1 ", "0x1g", "-", "９"]) await bad(integer(), raw);
    const err = await bad(integer(), "abc");
    assert.equal(err.message, 'Expected an integer, got "abc"');
  });
  test("rejects values beyond the safe integer range instead of rounding", async () => {
    await ok(integer(), "9007199254740991", Number.MAX_SAFE_INTEGER);
    await bad(integer(), "9007199254740993");
    await bad(integer(), "0x20000000000000");
  });
  test("other bases accept their digits and only their own prefix", async () => {
    const hex = integer({ base: 16 });
    assert.equal(hex.type, "a base-16 integer");
    for (const [raw, n] of [["ff", 255], ["0xff", 255], ["-FF", -255], ["0b1", 0xb1]] as const) await ok(hex, raw, n);
    await bad(hex, "fg");
    const bin = integer({ base: 2 });
    await ok(bin, "101", 5);
    await ok(bin, "0b101", 5);
    await bad(bin, "2");
    await bad(bin, "0x1");
    await ok(integer({ base: 36 }), "zz", 1295);
  });
  test("prefixes can be disabled", async () => {
    await bad(integer({ prefixes: false }), "0x10");
    await ok(integer({ prefixes: false }), "10", 10);
  });
  test("allowFloat truncates decimal fractions toward zero, never giving -0", async () => {
    const p = integer({ allowFloat: true });
    for (const [raw, n] of [["2.7", 2], ["-2.7", -2], ["1e3", 1000], [".9", 0], ["5", 5]] as const) await ok(p, raw, n);
    assert.ok(Object.is(await p.parse("-0.5", ctx), 0));
    await bad(p, "1.2.3");
    await bad(p, "1e400");
    // The base's integer form wins over float notation: "1e3" is hex 0x1e3.
    await ok(integer({ base: 16, allowFloat: true }), "1e3", 0x1e3);
    await ok(integer({ base: 16, allowFloat: true }), "1.5", 1);
  });
  test("min and max are inclusive and shown in the expectation", async () => {
    const p = integer({ min: 1, max: 10 });
    assert.equal(p.type, "an integer between 1 and 10");
    await ok(p, "1", 1);
    await ok(p, "10", 10);
    const err = await bad(p, "11");
    assert.equal(err.message, 'Expected an integer between 1 and 10, got "11"');
    await bad(p, "0");
    assert.equal(integer({ min: 0 }).type, "an integer of at least 0");
    assert.equal(integer({ max: 5 }).type, "an integer of at most 5");
  });
  test("an invalid base is a programming error", () => {
    assert.throws(() => integer({ base: 1 }), RangeError);
    assert.throws(() => integer({ base: 37 }), RangeError);
    assert.throws(() => integer({ base: 2.5 }), RangeError);
  });
});

describe("float", () => {
  test("decimal notations", async () => {
    for (const [raw, n] of [["2.5", 2.5], ["-0.5", -0.5], [".5", 0.5], ["5.", 5], ["1e3", 1000], ["1E-2", 0.01], ["+4", 4]] as const) {
      await ok(float(), raw, n);
    }
  });
  test("rejects hex, infinities, NaN and junk", async () => {
    for (const raw of ["", " ", "abc", "0x10", "Infinity", "-Infinity", "NaN", "1e999", "1,5", "1.5.2", "e3"]) await bad(float(), raw);
  });
  test("range", async () => {
    const p = float({ min: 0, max: 1 });
    await ok(p, "0.5", 0.5);
    await bad(p, "1.01");
    assert.equal(p.type, "a number between 0 and 1");
  });
});

describe("boolean", () => {
  test("accepts the usual words in any case", async () => {
    for (const raw of ["1", "y", "YES", "True", "on"]) await ok(boolean(), raw, true);
    for (const raw of ["0", "N", "no", "FALSE", "Off"]) await ok(boolean(), raw, false);
  });
  test("rejects anything else", async () => {
    for (const raw of ["", "maybe", "2", "yess", "t"]) await bad(boolean(), raw);
    assert.equal((await bad(boolean(), "maybe")).message, 'Expected yes or no, got "maybe"');
  });
});

describe("json", () => {
  test("parses any JSON value", async () => {
    await ok(json(), '{"a":[1,"b",null]}', { a: [1, "b", null] });
    await ok(json(), "3", 3);
    await ok(json(), '"s"', "s");
    await ok(json(), "null", null);
  });
  test("rejects invalid JSON with the parser's reason", async () => {
    const err = await bad(json(), "{a");
    assert.ok(err.detail !== undefined && err.detail.length > 0);
    assert.ok(err.cause instanceof SyntaxError);
    assert.match(err.message, /^Expected JSON, got "\{a" \(.+\)$/);
    await bad(json(), "");
  });
});

describe("choice", () => {
  const mode = choice(["on", "off", "Auto"] as const);
  test("returns the canonical spelling, matching case-insensitively by default", async () => {
    await ok(mode, "on", "on");
    await ok(mode, "ON", "on");
    await ok(mode, "auto", "Auto");
  });
  test("case-sensitive on request; exact matches win", async () => {
    const strict = choice(["a", "A"], { caseInsensitive: false });
    await ok(strict, "A", "A");
    await ok(strict, "a", "a");
    await bad(choice(["on"], { caseInsensitive: false }), "ON");
  });
  test("rejects other words, listing the choices", async () => {
    const err = await bad(mode, "maybe");
    assert.equal(err.message, 'Expected one of "on", "off", "Auto", got "maybe"');
    assert.throws(() => choice([]), RangeError);
  });
});

describe("user", () => {
  test("user IDs, including historical localparts and ports", async () => {
    for (const id of ["@alice:x.org", "@a.b_c=d-e/f+g:x.org", "@Alice:x.org:8448", "@a:[::1]", "@a:127.0.0.1"]) await ok(user(), id, id);
  });
  test("matrix.to and matrix: links to a user", async () => {
    await ok(user(), "https://matrix.to/#/@alice:x.org", "@alice:x.org");
    await ok(user(), "https://matrix.to/#/%40alice%3Ax.org", "@alice:x.org");
    await ok(user(), "matrix:u/alice:x.org", "@alice:x.org");
  });
  test("mention pill text maps to the user in the formatted body", async () => {
    const c = context('hey <a href="https://matrix.to/#/@tom:x.org">Tom &amp; Jerry</a> and <a href="https://matrix.to/#/@bob:x.org">Bob</a>');
    await ok(user(), "Tom & Jerry", "@tom:x.org", c);
    await ok(user(), "Bob", "@bob:x.org", c);
    await bad(user(), "bob", c);
    await bad(user(), "Bob", ctx);
  });
  test("rejects everything else", async () => {
    for (const raw of ["", "alice", "@alice", "alice:x.org", "@a b:x.org", "@a:x.org/", "#room:x.org", "https://matrix.to/#/!r:x.org"]) {
      await bad(user(), raw);
    }
    assert.equal((await bad(user(), "alice")).message, 'Expected a user ID, mention or matrix.to link, got "alice"');
  });
});

describe("room", () => {
  test("room IDs, with or without a server part (room v12)", async () => {
    await ok(room(), "!abc:x.org", "!abc:x.org");
    await ok(room(), "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM");
  });
  test("aliases resolve through the context", async () => {
    await ok(room(), "#lobby:x.org", "!lobby:x.org");
    await ok(room(), "https://matrix.to/#/%23lobby%3Ax.org", "!lobby:x.org");
    await ok(room(), "https://matrix.to/#/#lobby:x.org?via=x.org", "!lobby:x.org");
    await ok(room(), "matrix:r/lobby:x.org", "!lobby:x.org");
  });
  test("a failed resolution is a parser error keeping the cause", async () => {
    const err = await bad(room(), "#nope:x.org");
    assert.equal(err.detail, "could not resolve #nope:x.org");
    assert.ok(err.cause instanceof Error && /M_NOT_FOUND/.test(err.cause.message));
  });
  test("room links with via", async () => {
    await ok(room(), "https://matrix.to/#/!abc:x.org?via=x.org&via=y.org", "!abc:x.org");
    await ok(room(), "matrix:roomid/abc:x.org?via=x.org", "!abc:x.org");
  });
  test("rejects non-rooms", async () => {
    for (const raw of ["", "room", "@u:x.org", "#nocolon", "https://matrix.to/#/!r:x.org/$e", "! spaced"]) await bad(room(), raw);
  });
});

describe("event", () => {
  test("bare event IDs give no room", async () => {
    await ok(event(), "$abc123", { eventId: "$abc123" });
    await ok(event(), "$abc:x.org", { eventId: "$abc:x.org" });
  });
  test("links give the room too, aliases resolved", async () => {
    await ok(event(), "https://matrix.to/#/!r:x.org/$ev?via=x.org", { roomId: "!r:x.org", eventId: "$ev" });
    await ok(event(), "https://matrix.to/#/%23lobby%3Ax.org/%24ev", { roomId: "!lobby:x.org", eventId: "$ev" });
    await ok(event(), "matrix:roomid/r:x.org/e/ev", { roomId: "!r:x.org", eventId: "$ev" });
    await bad(event(), "https://matrix.to/#/#nope:x.org/$ev");
  });
  test("rejects non-events", async () => {
    for (const raw of ["", "abc", "$", "$a b", "https://matrix.to/#/!r:x.org", "https://matrix.to/#/@u:x.org/$e", "https://matrix.to/#/!r:x.org/notevent"]) {
      await bad(event(), raw);
    }
  });
});

describe("matrixTo / parseMatrixLink", () => {
  test("parses users, rooms and events with via", async () => {
    await ok(matrixTo(), "https://matrix.to/#/@a:x.org", { kind: "user", userId: "@a:x.org" });
    await ok(matrixTo(), "http://matrix.to/#/#a:x.org", { kind: "room", roomIdOrAlias: "#a:x.org", via: [] });
    await ok(matrixTo(), "https://matrix.to/#/!r:x.org/$e?via=a.org&via=b.org", {
      kind: "event",
      roomIdOrAlias: "!r:x.org",
      eventId: "$e",
      via: ["a.org", "b.org"],
    });
    await ok(matrixTo(), "matrix:r/a:x.org/e/ev?action=join", { kind: "event", roomIdOrAlias: "#a:x.org", eventId: "$ev", via: [] });
  });
  test("rejects other URLs and malformed links", async () => {
    for (const raw of [
      "https://example.com/#/@a:x.org",
      "https://matrix.to/#/nothing",
      "https://matrix.to/#/%E0%A4%A",
      "https://matrix.to/#/!r:x.org/$e/extra",
      "matrix:x/a:x.org",
      "matrix:e/ev",
      "matrix:u/a:x.org/e/ev",
      "matrix:r/a:x.org/x/ev",
    ]) {
      await bad(matrixTo(), raw);
      assert.equal(parseMatrixLink(raw), null);
    }
  });
});

describe("mxc", () => {
  test("accepts valid media URIs", async () => {
    for (const raw of ["mxc://x.org/abc_DEF-123", "mxc://x.org:8448/a", "mxc://[::1]/a"]) await ok(mxc(), raw, raw);
  });
  test("rejects invalid ones", async () => {
    for (const raw of ["", "mxc://x.org/", "mxc://x.org/a/b", "http://x.org/a", "mxc:///a", "mxc://x.org/a.png", "mxc://x org/a"]) await bad(mxc(), raw);
  });
});

describe("HTML helpers", () => {
  test("decodeHtmlEntities handles named and numeric references and leaves unknown ones", () => {
    assert.equal(decodeHtmlEntities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27; &#x1F600; &bogus; &#0;"), `a & b <c> "d" 'e' 😀 &bogus; &#0;`);
  });
  test("extractLinks finds hrefs in any quoting, strips inner tags", () => {
    const html = `<a href="https://matrix.to/#/@a:x.org"><b>A</b>lice</a> <A HREF='x?a=1&amp;b=2'>y</A> <a href=z>w</a>`;
    assert.deepEqual(
      extractLinks(html).map(({ href, text }) => ({ href, text })),
      [
        { href: "https://matrix.to/#/@a:x.org", text: "Alice" },
        { href: "x?a=1&b=2", text: "y" },
        { href: "z", text: "w" },
      ],
    );
  });
  test("userPills keeps only links to users", () => {
    const html = `<a href="https://matrix.to/#/@a:x.org">Alice</a> <a href="https://matrix.to/#/!r:x.org">room</a> <a href="https://example.com">x</a>`;
    assert.deepEqual(userPills(html), [{ text: "Alice", userId: "@a:x.org" }]);
    assert.deepEqual(userPills(undefined), []);
  });
});

test("builtinParsers covers every documented type name", () => {
  assert.deepEqual(Object.keys(builtinParsers).sort(), ["bool", "event", "float", "int", "json", "matrixto", "mxc", "room", "string", "user"]);
  assert.ok(Object.isFrozen(builtinParsers));
});
