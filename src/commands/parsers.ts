/**
 * Argument parsers: turn one raw argument into a typed value, or throw
 * {@link CommandParserError}.
 *
 * @module
 */
import { CommandParserError } from "./errors.js";
import { event, matrixTo, mxc, room, user } from "./matrix-parsers.js";
import { primitive } from "./msc4391/schema.js";
import type { ArgumentParser } from "./parser-types.js";

export type { ArgumentParser, ParseContext, ParsedType } from "./parser-types.js";

function fail(expected: string, raw: string, detail?: string, cause?: unknown): never {
  throw CommandParserError.invalid(expected, raw, detail, cause === undefined ? undefined : { cause });
}

/** Any text, as given. */
export function string(): ArgumentParser<string> {
  return { type: "some text", schema: primitive("string"), parse: (raw) => raw };
}

/** Bounds shared by the number parsers (inclusive). */
export interface RangeOptions {
  readonly min?: number;
  readonly max?: number;
}

function describeRange(noun: string, { min, max }: RangeOptions): string {
  if (min !== undefined && max !== undefined) return `${noun} between ${min} and ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

function checkRange(value: number, range: RangeOptions, type: string, raw: string): number {
  if ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)) {
    fail(type, raw);
  }
  return value;
}

/** Options of {@link integer}. */
export interface IntegerOptions extends RangeOptions {
  /** Radix, 2 to 36. Default 10. */
  readonly base?: number;
  /**
   * Accept `0x`/`0o`/`0b` prefixes: any of them in base 10, only the matching one in base
   * 16/8/2 (elsewhere "0b1" is a valid base-16 number). Default true.
   */
  readonly prefixes?: boolean;
  /** Also accept a decimal fraction ("2.7", "1e3"), truncated toward zero. Default false. */
  readonly allowFloat?: boolean;
}

const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";
const PREFIX_BASES: Readonly<Record<string, number>> = { "0x": 16, "0o": 8, "0b": 2 };
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function digitsToNumber(digits: string, base: number): number | null {
  if (digits === "") return null;
  let value = 0;
  for (const ch of digits.toLowerCase()) {
    const d = DIGITS.indexOf(ch);
    if (d < 0 || d >= base) return null;
    value = value * base + d;
  }
  return Number.isSafeInteger(value) ? value : null;
}

/**
 * A whole number. Results beyond `Number.MAX_SAFE_INTEGER` are rejected rather than rounded.
 *
 * @example
 * integer().parse("0x1f", ctx)          // => 31
 * integer({ base: 16 }).parse("ff", ctx) // => 255
 * integer({ min: 1, max: 10 })           // type: "an integer between 1 and 10"
 */
export function integer(options: IntegerOptions = {}): ArgumentParser<number> {
  const base = options.base ?? 10;
  if (!Number.isInteger(base) || base < 2 || base > 36) throw new RangeError(`integer(): base must be 2..36, got ${base}`);
  const type = describeRange(base === 10 ? "an integer" : `a base-${base} integer`, options);
  return {
    type,
    // A client sends JSON integers in base 10; other bases are typed in as text.
    schema: primitive(base === 10 ? "integer" : "string"),
    parse(raw) {
      const sign = raw.startsWith("-") ? -1 : 1;
      let body = raw.replace(/^[+-]/, "");
      let radix = base;
      const prefixBase = PREFIX_BASES[body.slice(0, 2).toLowerCase()];
      if (options.prefixes !== false && prefixBase !== undefined && (base === 10 || base === prefixBase)) {
        radix = prefixBase;
        body = body.slice(2);
      }
      let value = digitsToNumber(body, radix);
      if (value === null && options.allowFloat === true && DECIMAL.test(raw)) {
        const truncated = Math.trunc(Number(raw));
        value = Number.isSafeInteger(truncated) ? Math.abs(truncated) : null;
      }
      if (value === null) return fail(type, raw);
      // `0 * -1` is -0, which prints as "0" but fails strict equality with 0 in tests and callers.
      return checkRange(value === 0 ? 0 : sign * value, options, type, raw);
    },
  };
}

/**
 * A finite decimal number ("2", "-0.5", "1e3"). Hex, "Infinity" and "NaN" are rejected.
 *
 * @example
 * float({ min: 0 }).parse("2.5", ctx) // => 2.5
 */
export function float(options: RangeOptions = {}): ArgumentParser<number> {
  const type = describeRange("a number", options);
  return {
    type,
    // MSC4391 has no fractional type (canonical JSON has no floats): the number goes as text.
    schema: primitive("string"),
    parse(raw) {
      const value = Number(raw);
      if (!DECIMAL.test(raw) || !Number.isFinite(value)) return fail(type, raw);
      return checkRange(value, options, type, raw);
    },
  };
}

const TRUE = new Set(["1", "y", "yes", "true", "on"]);
const FALSE = new Set(["0", "n", "no", "false", "off"]);

/** `1/y/yes/true/on` or `0/n/no/false/off`, any case. */
export function boolean(): ArgumentParser<boolean> {
  const type = "yes or no";
  return {
    type,
    schema: primitive("boolean"),
    parse(raw) {
      const v = raw.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      return fail(type, raw);
    },
  };
}

/**
 * Any JSON value, unvalidated: narrow the `unknown` in the handler. As JSON usually holds
 * spaces, declare it greedy (`<data:json...>`) or have the sender quote it.
 */
export function json(): ArgumentParser<unknown> {
  return {
    type: "JSON",
    schema: primitive("string"),
    parse(raw) {
      try {
        return JSON.parse(raw) as unknown;
      } catch (err) {
        return fail("JSON", raw, err instanceof Error ? err.message : undefined, err);
      }
    },
  };
}

/** Options of {@link choice}. */
export interface ChoiceOptions {
  /** Match regardless of case, still returning the canonical spelling. Default true. */
  readonly caseInsensitive?: boolean;
}

/**
 * One of a fixed set of words, typed as their union.
 *
 * @example
 * const mode = choice(["on", "off", "auto"] as const); // ArgumentParser<"on" | "off" | "auto">
 * mode.parse("ON", ctx) // => "on"
 */
export function choice<const C extends readonly string[]>(
  choices: C,
  options: ChoiceOptions = {},
): ArgumentParser<C[number]> {
  if (choices.length === 0) throw new RangeError("choice(): needs at least one choice");
  const type = `one of ${choices.map((c) => JSON.stringify(c)).join(", ")}`;
  return {
    type,
    schema: { schema_type: "union", variants: choices.map((value) => ({ schema_type: "literal", value, literal_type: "string" })) },
    parse(raw) {
      const exact = choices.find((c) => c === raw);
      if (exact !== undefined) return exact;
      const folded = raw.toLowerCase();
      const loose = options.caseInsensitive === false ? undefined : choices.find((c) => c.toLowerCase() === folded);
      return loose ?? fail(type, raw);
    },
  };
}

export { event, matrixTo, mxc, room, user, type EventReference } from "./matrix-parsers.js";

/**
 * The parsers behind the type names of signature strings (`<count:int>`). Frozen: to use your
 * own types in a signature, pass them to `signature(text, { types })`.
 */
export const builtinParsers = Object.freeze({
  string: string(),
  int: integer(),
  float: float(),
  bool: boolean(),
  json: json(),
  room: room(),
  event: event(),
  matrixto: matrixTo(),
  mxc: mxc(),
  user: user(),
});

/** Type names usable in signature strings without registering anything. */
export type BuiltinTypeName = keyof typeof builtinParsers;
