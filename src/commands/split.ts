/**
 * Splitting a command line into arguments.
 *
 * Rules:
 * - whitespace separates arguments;
 * - `"`, `'` and `` ` `` quote, but only when they *start* an argument: `don't` and
 *   `it's here` are plain words, and the quote characters of a quoted argument are removed
 *   while its content (whitespace included) is kept verbatim;
 * - a quoted argument ends at its closing quote, so `"a"b` is two arguments, `a` and `b`;
 * - a backslash makes the next character literal, inside quotes and out (`\"`, `\\`, `a\ b`);
 *   a trailing lone backslash is kept as is;
 * - `""` is an argument, the empty string;
 * - an unterminated quote throws {@link CommandParserError}.
 *
 * Offsets are UTF-16 indices into the text given, as everywhere in JavaScript.
 *
 * @module
 */
import { CommandParserError } from "./errors.js";

/** One argument and where it sits in the text it was split from. */
export interface Token {
  /** The argument after removing quotes and escapes. */
  readonly value: string;
  /** Index of the argument's first character (its opening quote, if quoted). */
  readonly offset: number;
  /** Index just past the argument's last character (its closing quote, if quoted). */
  readonly end: number;
  /** Whether the argument was written in quotes. */
  readonly quoted: boolean;
}

/** Options of {@link Tokenizer}. */
export interface TokenizerOptions {
  /**
   * Texts taken whole when an argument starts with them and they are followed by whitespace
   * or the end: used for mention pills, whose display names may hold spaces or quotes.
   */
  readonly phrases?: readonly string[];
}

const QUOTES = new Set(['"', "'", "`"]);
const WHITESPACE = /\s/;

function isSpace(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  // ASCII answered without a regex call: this runs for every character of the input.
  const code = ch.charCodeAt(0);
  return code < 0x80 ? code === 0x20 || (code >= 0x09 && code <= 0x0d) : WHITESPACE.test(ch);
}

/**
 * Lazy, one-argument-at-a-time splitter. Laziness lets a greedy rest-of-line argument take
 * the raw remainder even where splitting it would fail (`!say 'tis the season`).
 *
 * @example
 * const t = new Tokenizer('ban @a:b "too loud" 3');
 * t.next()?.value; // "ban"
 * t.rest();        // '@a:b "too loud" 3'
 */
export class Tokenizer {
  readonly text: string;
  private pos = 0;
  private readonly phrases: readonly string[];

  constructor(text: string, options: TokenizerOptions = {}) {
    this.text = text;
    // Longest first, so "Alice Smith" wins over "Alice".
    this.phrases = [...new Set(options.phrases ?? [])].filter((p) => p !== "").sort((a, b) => b.length - a.length);
  }

  /** Skip whitespace; return where the next argument starts, or `null` at the end. */
  peekOffset(): number | null {
    while (this.pos < this.text.length && isSpace(this.text[this.pos])) this.pos++;
    return this.pos < this.text.length ? this.pos : null;
  }

  /**
   * The raw remainder of the text from the next argument on, trailing whitespace removed, and
   * consume it all. `null` when nothing is left.
   */
  rest(): { value: string; offset: number } | null {
    const offset = this.peekOffset();
    if (offset === null) return null;
    this.pos = this.text.length;
    return { value: this.text.slice(offset).trimEnd(), offset };
  }

  /** The next argument, or `null` at the end. Throws on an unterminated quote. */
  next(): Token | null {
    const start = this.peekOffset();
    if (start === null) return null;
    const phrase = this.matchPhrase(start);
    if (phrase !== undefined) {
      this.pos = start + phrase.length;
      return { value: phrase, offset: start, end: this.pos, quoted: false };
    }
    const first = this.text[start] ?? "";
    return QUOTES.has(first) ? this.readQuoted(start, first) : this.readBare(start);
  }

  /** All arguments left. */
  remaining(): Token[] {
    const out: Token[] = [];
    for (let token = this.next(); token !== null; token = this.next()) out.push(token);
    return out;
  }

  private matchPhrase(start: number): string | undefined {
    return this.phrases.find(
      (p) => this.text.startsWith(p, start) && (start + p.length === this.text.length || isSpace(this.text[start + p.length])),
    );
  }

  private readQuoted(start: number, quote: string): Token {
    // Copied a run at a time, not a character at a time: arguments can be 64 KB long.
    let value = "";
    let i = start + 1;
    let run = i;
    for (;;) {
      const ch = this.text[i];
      if (ch === undefined) {
        throw new CommandParserError(`unterminated quote ${quote} starting at position ${start}`, {
          expected: `a closing ${quote}`,
          received: this.text.slice(start),
        });
      }
      if (ch === quote) break;
      if (ch === "\\" && i + 1 < this.text.length) {
        value += this.text.slice(run, i) + this.text[i + 1];
        i += 2;
        run = i;
      } else i++;
    }
    value += this.text.slice(run, i);
    this.pos = i + 1;
    return { value, offset: start, end: this.pos, quoted: true };
  }

  private readBare(start: number): Token {
    let value = "";
    let i = start;
    let run = i;
    while (i < this.text.length && !isSpace(this.text[i])) {
      if (this.text[i] === "\\" && i + 1 < this.text.length) {
        value += this.text.slice(run, i) + this.text[i + 1];
        i += 2;
        run = i;
      } else i++;
    }
    value += this.text.slice(run, i);
    this.pos = i;
    return { value, offset: start, end: i, quoted: false };
  }
}

/**
 * Split a command line into arguments (see the module rules).
 *
 * @example
 * splitArguments(`say "hello world" don't \\"x\\"`) // => ["say", "hello world", "don't", '"x"']
 * @throws {CommandParserError} on an unterminated quote.
 */
export function splitArguments(text: string): string[] {
  return splitWithOffsets(text).map((t) => t.value);
}

/**
 * Like {@link splitArguments} but keeps each argument's position, so a rest-of-line argument
 * can take `text.slice(token.offset)` verbatim.
 *
 * @example
 * const [, second] = splitWithOffsets('echo  hello   "world"');
 * 'echo  hello   "world"'.slice(second!.offset) // => 'hello   "world"'
 */
export function splitWithOffsets(text: string, options?: TokenizerOptions): Token[] {
  return new Tokenizer(text, options).remaining();
}

const SAFE_BARE = /^[^\s"'`\\][^\s\\]*$/;

/**
 * Quote one argument so that {@link splitArguments} gives it back unchanged; plain words are
 * left alone.
 *
 * @example
 * quote("hello world") // => '"hello world"'
 * quote("don't")       // => "don't"
 */
export function quote(argument: string): string {
  if (SAFE_BARE.test(argument)) return argument;
  return `"${argument.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Join arguments into a command line that splits back into them: the inverse of
 * {@link splitArguments}.
 *
 * @example
 * joinArguments(["say", "hi there"]) // => 'say "hi there"'
 */
export function joinArguments(args: readonly string[]): string {
  return args.map(quote).join(" ");
}
