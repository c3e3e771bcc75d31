import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CommandError, CommandParserError } from "../../src/commands/errors.js";
import {
  Tokenizer,
  joinArguments,
  quote,
  splitArguments,
  splitWithOffsets,
  type Token,
} from "../../src/commands/split.js";

describe("splitArguments", () => {
  test("whitespace of any kind and amount separates", () => {
    assert.deepEqual(splitArguments("a b"), ["a", "b"]);
    assert.deepEqual(splitArguments("  a \t\tb\n c  "), ["a", "b", "c"]);
    assert.deepEqual(splitArguments(""), []);
    assert.deepEqual(splitArguments(" \n\t "), []);
  });

  test("each quote character keeps its content verbatim and is removed", () => {
    assert.deepEqual(splitArguments(`say "hello  world" 'a  b' \`c\td\``), ["say", "hello  world", "a  b", "c\td"]);
    assert.deepEqual(splitArguments(`"it's" 'say "hi"' \`'"\``), ["it's", 'say "hi"', `'"`]);
  });

  test("an apostrophe or quote inside a word is an ordinary character", () => {
    assert.deepEqual(splitArguments("don't stop"), ["don't", "stop"]);
    assert.deepEqual(splitArguments("it's here"), ["it's", "here"]);
    assert.deepEqual(splitArguments(`a"b c"d`), [`a"b`, `c"d`]);
    assert.deepEqual(splitArguments("rock'n'roll"), ["rock'n'roll"]);
  });

  test("a quoted argument ends at its closing quote", () => {
    assert.deepEqual(splitArguments(`"a"b`), ["a", "b"]);
    assert.deepEqual(splitArguments(`"a""b"`), ["a", "b"]);
    assert.deepEqual(splitArguments(`"a"'b c'`), ["a", "b c"]);
  });

  test("the empty quoted string is an argument", () => {
    assert.deepEqual(splitArguments(`""`), [""]);
    assert.deepEqual(splitArguments(`a '' b`), ["a", "", "b"]);
  });

  test("a backslash makes the next character literal, outside quotes and inside", () => {
    assert.deepEqual(splitArguments(String.raw`a\ b c`), ["a b", "c"]);
    assert.deepEqual(splitArguments(String.raw`\"not quoted\"`), [`"not`, `quoted"`]);
    assert.deepEqual(splitArguments(String.raw`"say \"hi\" \\ ok"`), [String.raw`say "hi" \ ok`]);
    assert.deepEqual(splitArguments(String.raw`'it\'s'`), ["it's"]);
    assert.deepEqual(splitArguments(String.raw`C:\\dir \n`), [String.raw`C:\dir`, "n"]);
  });

  test("a trailing lone backslash is kept", () => {
    assert.deepEqual(splitArguments("a\\"), ["a\\"]);
    assert.deepEqual(splitArguments("a \\"), ["a", "\\"]);
  });

  test("an unterminated quote throws a CommandParserError giving the quote and its position", () => {
    assert.throws(() => splitArguments(`say "hello world`), (err: unknown) => {
      assert.ok(err instanceof CommandParserError);
      assert.ok(err instanceof CommandError);
      assert.equal(err.name, "CommandParserError");
      assert.equal(err.message, `unterminated quote " starting at position 4`);
      assert.equal(err.argument, undefined);
      assert.equal(err.received, `"hello world`);
      return true;
    });
    assert.throws(() => splitArguments("a 'b"), { message: "unterminated quote ' starting at position 2" });
    assert.throws(() => splitArguments("`"), { message: "unterminated quote ` starting at position 0" });
    // An escaped closing quote does not close.
    assert.throws(() => splitArguments(String.raw`"abc\"`), { message: /position 0/ });
  });
});

describe("splitWithOffsets", () => {
  test("gives each token's start and end in the original text", () => {
    const text = `!echo  hello   "world"`;
    const tokens = splitWithOffsets(text);
    assert.deepEqual(tokens, [
      { value: "!echo", offset: 0, end: 5, quoted: false },
      { value: "hello", offset: 7, end: 12, quoted: false },
      { value: "world", offset: 15, end: 22, quoted: true },
    ]);
    assert.equal(text.slice(tokens[1]?.offset), `hello   "world"`);
  });
});

describe("Tokenizer", () => {
  test("rest() takes the raw remainder without splitting it, so odd quoting there is fine", () => {
    const t = new Tokenizer("say   'tis the  season  ");
    assert.equal(t.next()?.value, "say");
    assert.deepEqual(t.rest(), { value: "'tis the  season", offset: 6 });
    assert.equal(t.next(), null);
    assert.equal(t.rest(), null);
  });

  test("peekOffset skips whitespace and reports the end as null", () => {
    const t = new Tokenizer("  a  ");
    assert.equal(t.peekOffset(), 2);
    assert.equal(t.next()?.value, "a");
    assert.equal(t.peekOffset(), null);
  });

  test("phrases are taken whole, longest first, only when a whole word follows", () => {
    const phrases = ["Alice", "Alice Smith", "O'Brien the \"Great\""];
    assert.deepEqual(
      splitWithOffsets(`ban Alice Smith now`, { phrases }).map((t) => t.value),
      ["ban", "Alice Smith", "now"],
    );
    assert.deepEqual(splitWithOffsets(`Alice Smithers`, { phrases }).map((t) => t.value), ["Alice", "Smithers"]);
    assert.deepEqual(splitWithOffsets(`O'Brien the "Great"`, { phrases }).map((t) => t.value), [`O'Brien the "Great"`]);
    assert.deepEqual(splitWithOffsets(`xAlice Smith`, { phrases }).map((t) => t.value), ["xAlice", "Smith"]);
  });
});

describe("quote / joinArguments", () => {
  test("leaves plain words alone and quotes what needs it", () => {
    assert.equal(quote("abc"), "abc");
    assert.equal(quote("don't"), "don't");
    assert.equal(quote(""), `""`);
    assert.equal(quote("a b"), `"a b"`);
    assert.equal(quote(`'x`), `"'x"`);
    assert.equal(quote(`say "hi"`), String.raw`"say \"hi\""`);
    assert.equal(quote("a\\b"), String.raw`"a\\b"`);
    assert.equal(joinArguments(["say", "hi there", ""]), `say "hi there" ""`);
  });
});

/** Characters that exercise every rule, mixed with arbitrary Unicode. */
const tricky = fc.constantFrom(" ", "\t", "\n", "\u00a0", '"', "'", "`", "\\", "a", "b", "é", "😀");
const anyText = fc.string({ unit: fc.oneof(tricky, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })) });
const WS = /\s/;

/** Undo backslash escapes of a raw unquoted token, as the splitter does. */
function unescape(raw: string): string {
  return raw.replace(/\\([\s\S])/g, "$1");
}

function trySplit(text: string): Token[] | null {
  try {
    return splitWithOffsets(text);
  } catch (err) {
    assert.ok(err instanceof CommandParserError, `unexpected ${String(err)}`);
    assert.match(err.message, /^unterminated quote ["'`] starting at position \d+$/);
    return null;
  }
}

describe("splitter properties", () => {
  test("quoting any list of arguments and splitting gives the list back", () => {
    fc.assert(
      fc.property(fc.array(anyText, { maxLength: 8 }), (list) => {
        assert.deepEqual(splitArguments(joinArguments(list)), list);
      }),
      { numRuns: 500 },
    );
  });

  test("text without quotes or backslashes never throws and splits exactly on whitespace", () => {
    const plain = fc.string({ unit: fc.oneof(fc.constantFrom(" ", "\t", "\n", "a", "é", "😀"), fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => !/["'`\\]/.test(c))) });
    fc.assert(
      fc.property(plain, (text) => {
        assert.deepEqual(splitArguments(text), text.split(/\s+/).filter((w) => w !== ""));
      }),
      { numRuns: 500 },
    );
  });

  test("any text either splits or throws the unterminated-quote error, nothing else", () => {
    fc.assert(fc.property(anyText, (text) => void trySplit(text)), { numRuns: 1000 });
  });

  test("unquoted tokens contain no unescaped whitespace, and only whitespace lies between tokens", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const tokens = trySplit(text);
        if (tokens === null) return;
        let last = 0;
        for (const t of tokens) {
          assert.ok(t.offset >= last && t.end > t.offset, "tokens are ordered and non-empty in the text");
          assert.ok(!/\S/.test(text.slice(last, t.offset)), "only whitespace between tokens");
          const raw = text.slice(t.offset, t.end);
          if (t.quoted) {
            assert.equal(raw[0], raw[raw.length - 1]);
            assert.equal(unescape(raw.slice(1, -1)), t.value);
          } else {
            for (let i = 0; i < raw.length; i += raw[i] === "\\" ? 2 : 1) assert.ok(!WS.test(raw[i] ?? ""));
            assert.equal(unescape(raw), t.value);
          }
          last = t.end;
        }
        assert.ok(!/\S/.test(text.slice(last)), "nothing but whitespace after the last token");
      }),
      { numRuns: 1000 },
    );
  });

  test("a rest-of-line slice from any token's offset keeps the remainder verbatim", () => {
    fc.assert(
      fc.property(fc.array(anyText, { minLength: 1, maxLength: 6 }), fc.nat(), (list, pick) => {
        const text = joinArguments(list);
        const tokens = splitWithOffsets(text);
        const i = pick % tokens.length;
        assert.equal(text.slice(tokens[i]?.offset), joinArguments(list.slice(i)));
      }),
      { numRuns: 300 },
    );
  });
});
