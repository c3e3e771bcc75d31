/**
 * Signature strings (`"<user:user> <count:int> [reason...]"`): their grammar, checked both at
 * compile time (template literal types) and at run time, where they compile to
 * {@link ArgumentSpec}s.
 *
 * Grammar (whitespace separates parameters; no whitespace inside one):
 * ```text
 * signature := param*
 * param     := "<" body ">"                 required
 *            | "[" body "]"                 optional: property is `name?: T`
 *            | "[" body "=" default "]"     optional with default: property is `T`
 * body      := name (":" type)? modifier?
 * name      := [A-Za-z_][A-Za-z0-9_]*
 * type      := builtin or registered name   (default "string")
 *            | "(" word ("|" word)* ")"     choice, typed as the union of the words
 * modifier  := "..."                        greedy: the raw rest of the line, parsed as one `type`
 *            | "*"                          variadic: every remaining argument, each a `type` → `type[]`
 * ```
 * Rules: names are unique; a greedy or variadic parameter comes last; no required parameter
 * follows an optional one; a variadic one takes no default. `<ids:int*>` needs at least one
 * value; `[ids:int*]` may be empty and is still typed `number[]` (empty array, never
 * undefined). A default is raw text without whitespace (`[n:int=0x10]`, `[why...=none]`),
 * parsed by the parameter's parser when used; an unparsable default throws `TypeError` then.
 *
 * @module
 */
import { builtinParsers, choice, type ArgumentParser, type ParsedType } from "./parsers.js";

/** How a parameter consumes input. */
export type ArgumentMode = "single" | "rest" | "variadic";

/** A parameter's default: raw text to parse (signatures) or a ready value (builder). */
export type ArgumentDefault = { readonly kind: "raw"; readonly raw: string } | { readonly kind: "value"; readonly value: unknown };

/** The compiled, runtime form of one parameter, shared by both declaration forms. */
export interface ArgumentSpec {
  readonly name: string;
  /** For `variadic`, the parser of each item. */
  readonly parser: ArgumentParser<unknown>;
  readonly mode: ArgumentMode;
  /** Must the sender supply it? For `variadic`: must there be at least one item? */
  readonly required: boolean;
  readonly default?: ArgumentDefault;
  /** Shown by help. */
  readonly description?: string;
}

/** Value types of the built-in signature type names. */
export type BuiltinTypes = { [K in keyof typeof builtinParsers]: ParsedType<(typeof builtinParsers)[K]> };

/** Type map of a signature given extra parsers (which may shadow built-ins). */
export type TypesWith<X> = Omit<BuiltinTypes, keyof X> & { [K in keyof X]: ParsedType<X[K]> };

type Normalize<S extends string> = S extends `${infer A}\t${infer B}`
  ? Normalize<`${A} ${B}`>
  : S extends `${infer A}\n${infer B}`
    ? Normalize<`${A} ${B}`>
    : S extends `${infer A}\r${infer B}`
      ? Normalize<`${A} ${B}`>
      : S;
type TrimLeft<S extends string> = S extends ` ${infer R}` ? TrimLeft<R> : S;
type Words<S extends string, Acc extends string[] = []> =
  TrimLeft<S> extends ""
    ? Acc
    : TrimLeft<S> extends `${infer W} ${infer R}`
      ? Words<R, [...Acc, W]>
      : [...Acc, TrimLeft<S>];

type Letter = "a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i" | "j" | "k" | "l" | "m" | "n" | "o" | "p" | "q" | "r" | "s" | "t" | "u" | "v" | "w" | "x" | "y" | "z";
type IdentStart = Letter | Uppercase<Letter> | "_";
type IdentChar = IdentStart | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9";
type AllIdent<S extends string> = S extends "" ? true : S extends `${infer C}${infer R}` ? (C extends IdentChar ? AllIdent<R> : false) : false;
type IsIdent<S extends string> = S extends `${infer C}${infer R}` ? (C extends IdentStart ? AllIdent<R> : false) : false;

/** Marker of an invalid parameter at the type level; `error` is shown to the developer. */
interface ParamError<M extends string = string> {
  readonly error: M;
}
interface ParamInfo<
  N extends string = string,
  V = unknown,
  M extends ArgumentMode = ArgumentMode,
  O extends boolean = boolean,
  R extends boolean = boolean,
> {
  readonly name: N;
  readonly value: V;
  readonly mode: M;
  /** Whether the property is optional in the args object. */
  readonly optional: O;
  /** Whether the sender must supply it (false for optional and defaulted parameters). */
  readonly required: R;
}

type Choices<C extends string> = C extends `${infer H}|${infer R}` ? (H extends "" ? never : H | Choices<R>) : C extends "" ? never : C;
type ResolveType<T extends string, Types> = T extends keyof Types
  ? [Types[T]]
  : T extends `(${infer C})`
    ? [Choices<C>] extends [never]
      ? never
      : [Choices<C>]
    : never;

type Kind = "required" | "optional" | "default";
type Build<P extends string, N extends string, T extends string, M extends ArgumentMode, K extends Kind, Types> =
  IsIdent<N> extends false
    ? ParamError<`Invalid argument ${P}: name "${N}" must be letters, digits or _`>
    : [ResolveType<T, Types>] extends [never]
      ? ParamError<`Invalid argument ${P}: unknown type "${T}"`>
      : ResolveType<T, Types> extends [infer V]
      ? M extends "variadic"
        ? K extends "default"
          ? ParamError<`Invalid argument ${P}: a variadic argument cannot have a default`>
          : ParamInfo<N, V[], M, false, K extends "required" ? true : false>
        : ParamInfo<N, V, M, K extends "optional" ? true : false, K extends "required" ? true : false>
      : never;
type Typed<P extends string, Core extends string, M extends ArgumentMode, K extends Kind, Types> =
  Core extends `${infer N}:${infer T}` ? Build<P, N, T, M, K, Types> : Build<P, Core, "string", M, K, Types>;
type Body<P extends string, B extends string, K extends Kind, Types> = B extends `${infer Core}...`
  ? Typed<P, Core, "rest", K, Types>
  : B extends `${infer Core}*`
    ? Typed<P, Core, "variadic", K, Types>
    : Typed<P, B, "single", K, Types>;
type ParseParam<P extends string, Types> = P extends `<${infer B}>`
  ? Body<P, B, "required", Types>
  : P extends `[${infer B}=${string}]`
    ? Body<P, B, "default", Types>
    : P extends `[${infer B}]`
      ? Body<P, B, "optional", Types>
      : ParamError<`Invalid argument ${P}: write <name>, [name] or [name=default]`>;

type ParseAll<W extends string[], Types, Acc extends unknown[] = []> = W extends [infer H extends string, ...infer R extends string[]]
  ? ParseAll<R, Types, [...Acc, ParseParam<H, Types>]>
  : Acc;

/** Parsed parameters of a signature, each a `ParamInfo` or a `ParamError`. */
type Params<S extends string, Types> = ParseAll<Words<Normalize<S>>, Types>;

type Structure<Ps extends unknown[], Names = never, SeenOptional = false> = Ps extends [infer H, ...infer R]
  ? H extends ParamError<infer E>
    ? E
    : H extends ParamInfo<infer N, unknown, infer M, boolean, infer Req>
      ? N extends Names
        ? `Duplicate argument "${N}"`
        : M extends "rest" | "variadic"
          ? R extends []
            ? true
            : `Argument "${N}" takes the rest of the line, so it must be last`
          : [Req, SeenOptional] extends [true, true]
            ? `Required argument "${N}" cannot follow an optional one`
            : Structure<R, Names | N, Req extends true ? SeenOptional : true>
      : never
  : true;

/**
 * `S` when it is a valid signature over `Types`, else an error message string literal, so a
 * bad signature fails to compile with that message.
 *
 * @example
 * declare function command<const S extends string>(sig: ValidateSignature<S>): void;
 * command("<n:int>");  // ok
 * command("<n:itn>");  // error: not assignable to 'Invalid argument <n:itn>: unknown type "itn"'
 */
export type ValidateSignature<S extends string, Types = BuiltinTypes> = string extends S
  ? S
  : Structure<Params<S, Types>> extends infer R
    ? R extends string
      ? R
      : S
    : S;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<P> = Simplify<
  { [I in P as I extends ParamInfo<string, unknown, ArgumentMode, false> ? I["name"] : never]: I extends ParamInfo ? I["value"] : never } & {
    [I in P as I extends ParamInfo<string, unknown, ArgumentMode, true> ? I["name"] : never]?: I extends ParamInfo ? I["value"] : never;
  }
>;

/**
 * The args object a signature string describes; `never` when the signature is invalid, and
 * `Record<string, unknown>` when it isn't a literal.
 *
 * @example
 * type A = SignatureArgs<"<user:user> <count:int> [reason...]">;
 * // { user: string; count: number; reason?: string }
 */
export type SignatureArgs<S extends string, Types = BuiltinTypes> = string extends S
  ? Record<string, unknown>
  : Structure<Params<S, Types>> extends true
    ? ObjectOf<Params<S, Types>[number]>
    : never;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function invalid(signature: string, why: string): SyntaxError {
  return new SyntaxError(`Invalid command signature ${JSON.stringify(signature)}: ${why}`);
}

function resolveParser(typeName: string, types: Readonly<Record<string, ArgumentParser<unknown>>>): ArgumentParser<unknown> | undefined {
  if (Object.hasOwn(types, typeName)) return types[typeName];
  if (Object.hasOwn(builtinParsers, typeName)) return builtinParsers[typeName as keyof typeof builtinParsers];
  const m = /^\((.*)\)$/.exec(typeName);
  const words = m?.[1]?.split("|");
  if (words === undefined || words.some((w) => w === "")) return undefined;
  return choice(words);
}

function parseParam(
  word: string,
  signature: string,
  types: Readonly<Record<string, ArgumentParser<unknown>>>,
): ArgumentSpec {
  let body: string;
  let kind: Kind;
  let raw: string | undefined;
  if (word.length >= 2 && word.startsWith("<") && word.endsWith(">")) {
    body = word.slice(1, -1);
    kind = "required";
  } else if (word.length >= 2 && word.startsWith("[") && word.endsWith("]")) {
    const inner = word.slice(1, -1);
    const eq = inner.indexOf("=");
    body = eq < 0 ? inner : inner.slice(0, eq);
    raw = eq < 0 ? undefined : inner.slice(eq + 1);
    kind = eq < 0 ? "optional" : "default";
  } else {
    throw invalid(signature, `argument ${word}: write <name>, [name] or [name=default]`);
  }
  const mode: ArgumentMode = body.endsWith("...") ? "rest" : body.endsWith("*") ? "variadic" : "single";
  const core = body.slice(0, body.length - (mode === "rest" ? 3 : mode === "variadic" ? 1 : 0));
  const colon = core.indexOf(":");
  const name = colon < 0 ? core : core.slice(0, colon);
  const typeName = colon < 0 ? "string" : core.slice(colon + 1);
  if (!IDENT.test(name)) throw invalid(signature, `argument ${word}: name "${name}" must be letters, digits or _`);
  const parser = resolveParser(typeName, types);
  if (parser === undefined) throw invalid(signature, `argument ${word}: unknown type "${typeName}"`);
  if (mode === "variadic" && raw !== undefined) throw invalid(signature, `argument ${word}: a variadic argument cannot have a default`);
  return {
    name,
    parser,
    mode,
    required: kind === "required",
    ...(raw === undefined ? {} : { default: { kind: "raw", raw } as const }),
  };
}

/**
 * Check a list of compiled parameters for the structural rules shared by both declaration
 * forms (unique names, greedy/variadic last, no required after optional).
 *
 * @throws {SyntaxError} naming the offending parameter.
 */
export function validateSpecs(specs: readonly ArgumentSpec[], label: string): void {
  const seen = new Set<string>();
  let optionalSeen = false;
  specs.forEach((spec, i) => {
    const fail = (why: string): never => {
      throw invalid(label, why);
    };
    if (seen.has(spec.name)) fail(`duplicate argument "${spec.name}"`);
    seen.add(spec.name);
    if (spec.mode !== "single" && i !== specs.length - 1) fail(`argument "${spec.name}" takes the rest of the line, so it must be last`);
    if (spec.required && optionalSeen) fail(`required argument "${spec.name}" cannot follow an optional one`);
    if (!spec.required) optionalSeen = true;
  });
}

/**
 * Compile a signature string to runtime parameters.
 *
 * @throws {SyntaxError} if the signature breaks the grammar: the same cases the type level
 * rejects, so a literal signature that compiles never throws here.
 */
export function compileSignature(
  signature: string,
  types: Readonly<Record<string, ArgumentParser<unknown>>> = {},
): ArgumentSpec[] {
  const words = signature.split(/\s+/).filter((w) => w !== "");
  const specs = words.map((w) => parseParam(w, signature, types));
  validateSpecs(specs, signature);
  return specs;
}
