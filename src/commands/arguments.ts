/**
 * Declaring a command's arguments, with their types flowing to the handler, and parsing an
 * invocation against the declaration.
 *
 * Two equivalent forms, both giving an {@link ArgumentList}:
 * - a signature string: `signature("<user:user> <count:int> [reason...]")` (grammar in
 *   `signature.ts`); a bare literal string works wherever a declaration is expected;
 * - a builder: `args(arg("user", user()), arg("count", integer()), arg("reason", rest()).optional())`.
 *
 * @module
 */
import { string, type ArgumentParser } from "./parsers.js";
import {
  compileSignature,
  validateSpecs,
  type ArgumentMode,
  type ArgumentSpec,
  type SignatureArgs,
  type TypesWith,
  type ValidateSignature,
} from "./signature.js";

declare const argsType: unique symbol;

/**
 * A compiled argument declaration whose parsed object has type `T`. `T` exists only at the type
 * level; `specs` is what runs.
 */
export interface ArgumentList<T> {
  readonly specs: readonly ArgumentSpec[];
  /** Phantom: carries `T`; never set. */
  readonly [argsType]?: T;
}

/** A declaration: a compiled {@link ArgumentList}, or a signature string literal. */
export type ArgumentDeclaration = ArgumentList<unknown> | string;

/**
 * The handler's args type for a declaration of either form.
 *
 * @example
 * type A = ArgsOf<"<n:int> [tags:string*]">; // { n: number; tags: string[] }
 * type B = ArgsOf<typeof myArgs>;             // from args(...) or signature(...)
 */
export type ArgsOf<D> = D extends ArgumentList<infer T> ? T : D extends string ? SignatureArgs<D> : never;

/** Marks a parser as greedy: it receives the raw remainder of the line. See {@link rest}. */
export interface RestOf<T> {
  readonly consume: "rest";
  readonly parser: ArgumentParser<T>;
}
/** Marks a parser as variadic: every remaining argument, each parsed. See {@link variadic}. */
export interface VariadicOf<T> {
  readonly consume: "variadic";
  readonly parser: ArgumentParser<T>;
}

/**
 * Greedy rest-of-line: the parser (default {@link string}) gets the raw remainder from the
 * argument's first character, verbatim (quotes included), trailing whitespace trimmed.
 *
 * @example
 * arg("reason", rest())      // "too  loud, 'really'"
 * arg("payload", rest(json()))
 */
export function rest(): RestOf<string>;
export function rest<T>(parser: ArgumentParser<T>): RestOf<T>;
export function rest(parser: ArgumentParser<unknown> = string()): RestOf<unknown> {
  return { consume: "rest", parser };
}

/**
 * Variadic: all remaining arguments, each parsed by `item`, giving `T[]`. Required means at
 * least one; `.optional()` allows none (still `T[]`, empty).
 *
 * @example
 * arg("ids", variadic(integer())) // number[]
 */
export function variadic<T>(item: ArgumentParser<T>): VariadicOf<T> {
  return { consume: "variadic", parser: item };
}

/**
 * One builder parameter: name `N`, value `T`, and whether its property is optional (`O`).
 * Immutable: each method returns a new `Arg`.
 */
export class Arg<N extends string, T, O extends boolean, M extends ArgumentMode = ArgumentMode> {
  /** The runtime spec this builder describes. */
  readonly spec: ArgumentSpec;
  /** Phantom, for inference only. */
  declare readonly __types?: { name: N; value: T; optional: O; mode: M };

  constructor(spec: ArgumentSpec) {
    this.spec = spec;
  }

  /** Not required: absent gives `undefined` (for variadic: an empty array). */
  optional(): Arg<N, T, M extends "variadic" ? false : true, M> {
    return new Arg({ ...this.spec, required: false });
  }

  /** Not required: absent gives `value`, so the property isn't optional. */
  default(value: M extends "variadic" ? never : T): Arg<N, T, false, M> {
    return new Arg({ ...this.spec, required: false, default: { kind: "value", value } });
  }

  /** Help text for the argument. */
  describe(description: string): Arg<N, T, O, M> {
    return new Arg({ ...this.spec, description });
  }
}

/**
 * Declare a builder parameter.
 *
 * @example
 * arg("count", integer({ min: 1 })).describe("how many")
 * arg("mode", choice(["a", "b"] as const)).default("a")
 */
export function arg<const N extends string, T>(name: N, parser: VariadicOf<T>): Arg<N, T[], false, "variadic">;
export function arg<const N extends string, T>(name: N, parser: RestOf<T>): Arg<N, T, false, "rest">;
export function arg<const N extends string, T>(name: N, parser: ArgumentParser<T>): Arg<N, T, false, "single">;
export function arg(
  name: string,
  parser: ArgumentParser<unknown> | RestOf<unknown> | VariadicOf<unknown>,
): Arg<string, unknown, false> {
  if ("consume" in parser) return new Arg({ name, parser: parser.parser, mode: parser.consume, required: true });
  return new Arg({ name, parser, mode: "single", required: true });
}

type AnyArg = Arg<string, unknown, boolean>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ArgName<A> = A extends Arg<infer N, unknown, boolean> ? N : never;
type ArgValue<A> = A extends Arg<string, infer T, boolean> ? T : never;
type ObjectOfArgs<L extends readonly AnyArg[]> = Simplify<
  { [A in L[number] as A extends Arg<string, unknown, false> ? ArgName<A> : never]: ArgValue<A> } & {
    [A in L[number] as A extends Arg<string, unknown, true> ? ArgName<A> : never]?: ArgValue<A>;
  }
>;

/**
 * Compile builder parameters into an {@link ArgumentList}.
 *
 * @throws {SyntaxError} on duplicate names, a greedy/variadic parameter not last, or a
 * required parameter after an optional one.
 * @example
 * const banArgs = args(arg("user", user()), arg("reason", rest()).optional());
 * // ArgsOf<typeof banArgs> = { user: string; reason?: string }
 */
export function args<const L extends readonly AnyArg[]>(...list: L): ArgumentList<ObjectOfArgs<L>> {
  const specs = list.map((a) => a.spec);
  validateSpecs(specs, usageOfSpecs(specs));
  return { specs };
}

/** Options of {@link signature}. */
export interface SignatureOptions<X, S extends string> {
  /** Extra type names for this signature, shadowing built-ins of the same name. */
  readonly types?: X;
  /** Help text per argument. */
  readonly descriptions?: { readonly [K in keyof SignatureArgs<S, TypesWith<X>>]?: string };
}

/**
 * Compile a signature string (grammar in `signature.ts`), optionally with custom types.
 * Invalid literal signatures fail to compile, with the reason in the error.
 *
 * @example
 * const s = signature("<c:colour> [note...]", { types: { colour: hexColour } });
 * // ArgsOf<typeof s> = { c: number; note?: string }
 */
export function signature<
  const S extends string,
  const X extends Readonly<Record<string, ArgumentParser<unknown>>> = Record<never, never>,
>(
  text: ValidateSignature<S, TypesWith<X>>,
  options: SignatureOptions<X, S> = {},
): ArgumentList<SignatureArgs<S, TypesWith<X>>> {
  const descriptions: Readonly<Record<string, string | undefined>> = options.descriptions ?? {};
  const specs = compileSignature(text, options.types ?? {}).map((spec) => {
    const description = descriptions[spec.name];
    return description === undefined ? spec : { ...spec, description };
  });
  return { specs };
}

const compiled = new Map<string, readonly ArgumentSpec[]>();

/** The runtime parameters of a declaration; bare signature strings are compiled once and cached. */
export function specsOf(decl: ArgumentDeclaration): readonly ArgumentSpec[] {
  if (typeof decl !== "string") return decl.specs;
  let specs = compiled.get(decl);
  if (specs === undefined) {
    specs = compileSignature(decl);
    compiled.set(decl, specs);
  }
  return specs;
}

/** {@link usageOf} for already compiled parameters. */
export function usageOfSpecs(specs: readonly ArgumentSpec[]): string {
  return specs
    .map((s) => {
      const dots = s.mode === "single" ? "" : "...";
      const d = s.default;
      const shown = d === undefined ? undefined : d.kind === "raw" ? d.raw : showValue(d.value);
      if (s.required) return `<${s.name}${dots}>`;
      return shown === undefined ? `[${s.name}${dots}]` : `[${s.name}${dots}=${shown}]`;
    })
    .join(" ");
}

function showValue(value: unknown): string | undefined {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
}

/**
 * A usage line for the arguments (no command name): `<user> <count> [reason...]`. Greedy and
 * variadic both show as `name...`; defaults show as `[name=value]`.
 */
export function usageOf(decl: ArgumentDeclaration): string {
  return usageOfSpecs(specsOf(decl));
}
