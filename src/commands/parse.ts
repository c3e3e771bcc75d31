/**
 * Parsing an invocation's arguments against a declaration.
 *
 * @module
 */
import { specsOf, usageOfSpecs, type ArgumentList } from "./arguments.js";
import { CommandArgumentsError, CommandParserError } from "./errors.js";
import { userPills } from "./matrix.js";
import type { ParseContext } from "./parsers.js";
import type { ArgumentSpec, SignatureArgs, ValidateSignature } from "./signature.js";
import { Tokenizer } from "./split.js";

/** A pre-split argument: its value and its offset in the text it came from. */
export interface InputToken {
  readonly value: string;
  readonly offset: number;
}

/**
 * What to parse: the raw argument text (preferred: splitting is then lazy and pill-aware), or
 * tokens already split from it.
 */
export type ArgumentInput = string | readonly InputToken[];

/** Options of {@link parseArguments}. */
export interface ParseOptions {
  /**
   * With token input: the text the offsets refer to, so a greedy argument gets its raw
   * remainder. Without it, greedy arguments get the remaining values joined by single spaces.
   */
  readonly text?: string;
  /** Usage shown by arity errors, e.g. `"!ban <user> [reason...]"`. Default: `usageOf(decl)`. */
  readonly usage?: string;
}

/** Hands out raw inputs to parameters, in order. */
interface Source {
  next(): string | null;
  rest(): string | null;
  /** How many arguments are left; never throws. */
  countLeft(): number;
}

function textSource(text: string, ctx: ParseContext): Source {
  // Pills let a multi-word display name reach the user parser as one argument.
  const tokenizer = new Tokenizer(text, { phrases: userPills(ctx.formattedBody).map((p) => p.text) });
  return {
    next: () => tokenizer.next()?.value ?? null,
    rest: () => tokenizer.rest()?.value ?? null,
    countLeft() {
      let n = 0;
      try {
        while (tokenizer.next() !== null) n++;
        return n;
      } catch {
        return n + 1; // an unterminated quote still counts as one more argument
      }
    },
  };
}

function tokenSource(tokens: readonly InputToken[], text: string | undefined): Source {
  let i = 0;
  return {
    next: () => tokens[i++]?.value ?? null,
    rest() {
      const first = tokens[i];
      if (first === undefined) return null;
      const left = tokens.slice(i);
      i = tokens.length;
      return text === undefined ? left.map((t) => t.value).join(" ") : text.slice(first.offset).trimEnd();
    },
    countLeft: () => tokens.length - i,
  };
}

/** Raw inputs per parameter; `null` when absent. */
function assign(specs: readonly ArgumentSpec[], source: Source, usage: string): (readonly string[] | null)[] {
  const slots: (readonly string[] | null)[] = [];
  let used = 0;
  for (const spec of specs) {
    let raws: string[] = [];
    if (spec.mode === "rest") {
      const raw = source.rest();
      if (raw !== null) raws = [raw];
    } else if (spec.mode === "variadic") {
      for (let raw = source.next(); raw !== null; raw = source.next()) raws.push(raw);
    } else {
      const raw = source.next();
      if (raw !== null) raws = [raw];
    }
    if (raws.length === 0 && spec.required) throw CommandArgumentsError.missing(spec.name, usage);
    used += raws.length;
    slots.push(raws.length === 0 ? null : raws);
  }
  const extra = source.countLeft();
  if (extra > 0) throw CommandArgumentsError.tooMany(specs.length, used + extra, usage);
  return slots;
}

async function parseOne(spec: ArgumentSpec, raw: string, ctx: ParseContext): Promise<unknown> {
  try {
    return await spec.parser.parse(raw, ctx);
  } catch (err) {
    if (err instanceof CommandParserError) throw err.forArgument(spec.name);
    throw err;
  }
}

async function valueOf(spec: ArgumentSpec, raws: readonly string[] | null, ctx: ParseContext): Promise<unknown> {
  if (raws !== null) {
    if (spec.mode !== "variadic") return parseOne(spec, raws[0] ?? "", ctx);
    const values: unknown[] = [];
    // Sequential on purpose: parsers may hit the homeserver (aliases), and order of errors
    // should follow the order of the input.
    for (const raw of raws) values.push(await parseOne(spec, raw, ctx));
    return values;
  }
  if (spec.mode === "variadic") return [];
  const d = spec.default;
  if (d === undefined) return undefined;
  if (d.kind === "value") return d.value;
  try {
    return await spec.parser.parse(d.raw, ctx);
  } catch (err) {
    throw new TypeError(`Invalid default ${JSON.stringify(d.raw)} for argument "${spec.name}"`, { cause: err });
  }
}

/**
 * Parse an invocation's arguments (the text after the command name) into the typed object the
 * declaration describes. Absent optional arguments are left out of the object; absent
 * variadic ones are `[]`.
 *
 * Errors, in the order checked:
 * - {@link CommandParserError} for an unterminated quote;
 * - {@link CommandArgumentsError} for a missing required argument or too many arguments
 *   (before any parser runs, so no alias is resolved in vain);
 * - {@link CommandParserError} naming the argument, e.g.
 *   `Argument "count": expected an integer, got "abc"`;
 * - anything else a parser throws is a bug and propagates untouched; an invalid default
 *   throws `TypeError`.
 *
 * @example
 * const a = await parseArguments("<user:user> <count:int> [reason...]", "@a:x.org 3 too loud", ctx);
 * // a: { user: string; count: number; reason?: string } = { user: "@a:x.org", count: 3, reason: "too loud" }
 */
export function parseArguments<T>(
  decl: ArgumentList<T>,
  input: ArgumentInput,
  ctx: ParseContext,
  options?: ParseOptions,
): Promise<T>;
export function parseArguments<const S extends string>(
  decl: ValidateSignature<S>,
  input: ArgumentInput,
  ctx: ParseContext,
  options?: ParseOptions,
): Promise<SignatureArgs<S>>;
export async function parseArguments(
  decl: ArgumentList<unknown> | string,
  input: ArgumentInput,
  ctx: ParseContext,
  options: ParseOptions = {},
): Promise<unknown> {
  const specs = specsOf(decl);
  const usage = options.usage ?? usageOfSpecs(specs);
  const source = typeof input === "string" ? textSource(input, ctx) : tokenSource(input, options.text);
  return parseAssigned(specs, assign(specs, source, usage), ctx);
}

/**
 * Runs each parameter's parser on the raw inputs assigned to it (`null`: absent, so the default
 * applies) and builds the args object. The text form and the structured form (MSC4391) both end
 * here, so both get the same parsers, defaults and errors.
 */
export async function parseAssigned(specs: readonly ArgumentSpec[], slots: readonly (readonly string[] | null)[], ctx: ParseContext): Promise<Record<string, unknown>> {
  const entries: [string, unknown][] = [];
  for (const [i, spec] of specs.entries()) {
    const value = await valueOf(spec, slots[i] ?? null, ctx);
    if (value !== undefined || spec.default !== undefined) entries.push([spec.name, value]);
  }
  // fromEntries defines own properties, so even an argument named "__proto__" is safe.
  return Object.fromEntries(entries);
}
