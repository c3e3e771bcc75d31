import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  matchPrefix,
  splitCommandName,
  stripReplyFallback,
  stripReplyFallbackHtml,
  type PrefixOptions,
} from "../../src/commands/prefix.js";

const BOT = "@bot:x.org";
const opts: PrefixOptions = { botUserId: BOT, caseInsensitive: false };
const pill = (text: string, user = BOT): string => `<a href="https://matrix.to/#/${user}">${text}</a>`;

describe("matchPrefix with configured prefixes", () => {
  test("a string prefix consumes only itself", () => {
    assert.deepEqual(matchPrefix("!ping", "!", opts), { prefix: "!", rest: "ping", mention: false });
    assert.deepEqual(matchPrefix("! ping", "!", opts), { prefix: "!", rest: " ping", mention: false });
    assert.equal(matchPrefix("ping!", "!", opts), null);
    assert.equal(matchPrefix("", "!", opts), null);
  });

  test("with several prefixes the longest match wins", () => {
    assert.deepEqual(matchPrefix("!!ping", ["!", "!!"], opts), { prefix: "!!", rest: "ping", mention: false });
    assert.deepEqual(matchPrefix("?ping", ["!", "?"], opts), { prefix: "?", rest: "ping", mention: false });
    assert.equal(matchPrefix("ping", [], opts), null);
    assert.equal(matchPrefix("ping", [""], opts), null);
  });

  test("case-insensitivity applies to the prefix only, and the body keeps its case", () => {
    assert.equal(matchPrefix("BOT, Ping ME", "bot, ", opts), null);
    assert.deepEqual(matchPrefix("BOT, Ping ME", "bot, ", { ...opts, caseInsensitive: true }), {
      prefix: "BOT, ",
      rest: "Ping ME",
      mention: false,
    });
  });

  test("a RegExp matches at the start only, never empty, without touching the caller's regex", () => {
    const re = /[!?]+/g;
    re.lastIndex = 3;
    assert.deepEqual(matchPrefix("?!ping", re, opts), { prefix: "?!", rest: "ping", mention: false });
    assert.equal(re.lastIndex, 3);
    assert.equal(matchPrefix("ping!", /!/, opts), null);
    assert.equal(matchPrefix("ping", /!*/, opts), null);
    assert.equal(matchPrefix("HEY ping", /hey /, opts), null);
    assert.deepEqual(matchPrefix("HEY ping", /hey /, { ...opts, caseInsensitive: true }), { prefix: "HEY ", rest: "ping", mention: false });
  });
});

describe("matchPrefix with the bot's mention", () => {
  test("the user ID followed by a colon, comma or whitespace", () => {
    assert.deepEqual(matchPrefix(`${BOT}: ping`, "!", opts), { prefix: `${BOT}: `, rest: "ping", mention: true });
    assert.deepEqual(matchPrefix(`${BOT} ping`, "!", opts), { prefix: `${BOT} `, rest: "ping", mention: true });
    assert.deepEqual(matchPrefix(`${BOT}, ping`, "!", opts), { prefix: `${BOT}, `, rest: "ping", mention: true });
    assert.deepEqual(matchPrefix(`${BOT}:ping`, "!", opts), { prefix: `${BOT}:`, rest: "ping", mention: true });
    assert.deepEqual(matchPrefix(BOT, "!", opts), { prefix: BOT, rest: "", mention: true });
  });

  test("not another user whose ID merely starts with the bot's", () => {
    assert.equal(matchPrefix("@bot:x.org.evil ping", "!", opts), null);
    assert.equal(matchPrefix("@bot:x.orgping", "!", opts), null);
    assert.equal(matchPrefix("@BOT:x.org ping", "!", opts), null);
    assert.deepEqual(matchPrefix("@BOT:x.org ping", "!", { ...opts, caseInsensitive: true })?.rest, "ping");
  });

  test("a pill: the formatted body starts with a link to the bot and the body with its text", () => {
    const o = { ...opts, formattedBody: `${pill("Helper Bot")}: ping` };
    assert.deepEqual(matchPrefix("Helper Bot: ping", "!", o), { prefix: "Helper Bot: ", rest: "ping", mention: true });
    const encoded = { ...opts, formattedBody: ` <a href="https://matrix.to/#/%40bot%3Ax.org">Helper</a> ping` };
    assert.deepEqual(matchPrefix("Helper ping", "!", encoded)?.rest, "ping");
  });

  test("the display name is accepted as pill text only when the formatted body has the pill", () => {
    const withPill = { ...opts, botDisplayName: "Helper", formattedBody: `${pill("@bot")} ping` };
    assert.deepEqual(matchPrefix("Helper ping", "!", withPill)?.rest, "ping");
    assert.deepEqual(matchPrefix("@bot ping", "!", withPill)?.rest, "ping");
    assert.equal(matchPrefix("Helper ping", "!", { ...opts, botDisplayName: "Helper" }), null);
    assert.equal(matchPrefix("Helper: ping", "!", { ...opts, botDisplayName: "Helper", formattedBody: "Helper: ping" }), null);
  });

  test("a display name given as a function is looked up only for a message starting with a pill to the bot", () => {
    let lookups = 0;
    const lookup = (): string => (lookups++, "Helper");
    assert.equal(matchPrefix("just chatting", "!", { ...opts, botDisplayName: lookup }), null);
    assert.deepEqual(matchPrefix("!ping", "!", { ...opts, botDisplayName: lookup })?.rest, "ping");
    assert.equal(lookups, 0);
    assert.deepEqual(matchPrefix("Helper ping", "!", { ...opts, botDisplayName: lookup, formattedBody: `${pill("@bot")} ping` })?.rest, "ping");
    assert.equal(lookups, 1);
  });

  test("a pill to someone else, or not at the start, is no prefix", () => {
    assert.equal(matchPrefix("Alice ping", "!", { ...opts, formattedBody: `${pill("Alice", "@alice:x.org")} ping` }), null);
    assert.equal(matchPrefix("hi Helper ping", "!", { ...opts, formattedBody: `hi ${pill("Helper")} ping` }), null);
  });

  test("prefix + rest always rebuilds the body", () => {
    const body = fc.oneof(
      fc.string(),
      fc.tuple(fc.constantFrom("!", "!!", BOT, "Helper", "HELPER"), fc.constantFrom("", " ", ": ", ",", "\t"), fc.string()).map((p) => p.join("")),
    );
    fc.assert(
      fc.property(body, fc.boolean(), (text, ci) => {
        const o = { botUserId: BOT, caseInsensitive: ci, formattedBody: `${pill("Helper")} x` };
        const m = matchPrefix(text, ["!", "!!"], o);
        if (m !== null) assert.equal(m.prefix + m.rest, text);
      }),
      { numRuns: 500 },
    );
  });
});

describe("splitCommandName", () => {
  test("takes the leading word and the arguments after the whitespace", () => {
    assert.deepEqual(splitCommandName("ban  @a:x.org spam "), { name: "ban", args: "@a:x.org spam " });
    assert.deepEqual(splitCommandName("ping"), { name: "ping", args: "" });
    assert.deepEqual(splitCommandName("Say\n\"multi\nline\""), { name: "Say", args: '"multi\nline"' });
  });
  test("no command when the rest is empty or starts with whitespace", () => {
    assert.equal(splitCommandName(""), null);
    assert.equal(splitCommandName(" ping"), null);
  });
});

describe("stripReplyFallback", () => {
  test("removes the quoted fallback and the blank line after it", () => {
    assert.equal(stripReplyFallback("> <@a:x.org> hi\n> there\n\n!ping me"), "!ping me");
    assert.equal(stripReplyFallback("> * <@a:x.org> waves\n\n!ping"), "!ping");
    assert.equal(stripReplyFallback(">\n> <@a:x.org> x\n\nline1\n\nline3"), "line1\n\nline3");
  });
  test("leaves bodies without a fallback alone", () => {
    assert.equal(stripReplyFallback("!ping\n> not a fallback"), "!ping\n> not a fallback");
    assert.equal(stripReplyFallback(""), "");
  });
  test("only the first blank line goes; a body of only fallback becomes empty", () => {
    assert.equal(stripReplyFallback("> q\n\n\n!x"), "\n!x");
    assert.equal(stripReplyFallback("> q"), "");
  });
});

describe("stripReplyFallbackHtml", () => {
  test("removes the leading mx-reply block", () => {
    const html = `<mx-reply><blockquote><a href="https://matrix.to/#/!r/$e">In reply to</a> hi</blockquote></mx-reply>!ping <b>x</b>`;
    assert.equal(stripReplyFallbackHtml(html), "!ping <b>x</b>");
  });
  test("counts nested blocks and is case-insensitive", () => {
    assert.equal(stripReplyFallbackHtml("<MX-REPLY>a<mx-reply>b</mx-reply>c</mx-reply>d"), "d");
  });
  test("leaves other HTML alone; an unclosed block leaves nothing", () => {
    assert.equal(stripReplyFallbackHtml("!ping <mx-reply>x</mx-reply>"), "!ping <mx-reply>x</mx-reply>");
    assert.equal(stripReplyFallbackHtml("<mx-reply>never closed"), "");
    assert.equal(stripReplyFallbackHtml("<mx-replying>x</mx-replying>"), "<mx-replying>x</mx-replying>");
  });
});
