/**
 * Type-level tests: the assertions are checked by `tsc --noEmit`; the runtime tests make sure
 * the same declarations also behave as their types say.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  arg,
  args,
  rest,
  signature,
  variadic,
  type ArgsOf,
  type ArgumentList,
} from "../../src/commands/arguments.js";
import { parseArguments } from "../../src/commands/parse.js";
import {
  boolean,
  choice,
  event,
  float,
  integer,
  json,
  matrixTo,
  string,
  user,
  type ArgumentParser,
  type EventReference,
  type ParseContext,
} from "../../src/commands/parsers.js";
import type { MatrixLink } from "../../src/ids/links.js";
import type { SignatureArgs, ValidateSignature } from "../../src/commands/signature.js";

/** True iff A and B are identical types (not merely mutually assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compile-time assertion: fails to type-check unless T is `true`. */
type Expect<T extends true> = T;

// --- signature strings --------------------------------------------------------------------

type Ban = ArgsOf<"<user:user> <count:int> [reason...]">;
type _ban = Expect<Equal<Ban, { user: string; count: number; reason?: string }>>;

type NoArgs = Record<never, never>;
type _empty = Expect<Equal<ArgsOf<"">, NoArgs>>;
type _spaces = Expect<Equal<ArgsOf<"  <a>   <b:float>  ">, { a: string; b: number }>>;
type _tabs = Expect<Equal<ArgsOf<"<a>\t<b:bool>\n[c]">, { a: string; b: boolean; c?: string }>>;
type _defaults = Expect<Equal<ArgsOf<"<a> [n:int=5] [m=x]">, { a: string; n: number; m: string }>>;
type _variadic = Expect<Equal<ArgsOf<"<ids:int*>">, { ids: number[] }>>;
type _optVariadic = Expect<Equal<ArgsOf<"<a> [tags*]">, { a: string; tags: string[] }>>;
type _greedyTyped = Expect<Equal<ArgsOf<"<data:json...>">, { data: unknown }>>;
type _greedyDefault = Expect<Equal<ArgsOf<"[why...=none]">, { why: string }>>;
type _choice = Expect<Equal<ArgsOf<"<mode:(on|off|auto)>">, { mode: "on" | "off" | "auto" }>>;
type _choiceList = Expect<Equal<ArgsOf<"[modes:(a|b)*]">, { modes: ("a" | "b")[] }>>;
type _matrix = Expect<
  Equal<
    ArgsOf<"<r:room> <e:event> <l:matrixto> <m:mxc> <s:string>">,
    { r: string; e: EventReference; l: MatrixLink; m: string; s: string }
  >
>;
type _nonLiteral = Expect<Equal<SignatureArgs<string>, Record<string, unknown>>>;

// Invalid signatures: never as args, and an error message from ValidateSignature.
type _unknownType = Expect<Equal<ArgsOf<"<n:itn>">, never>>;
type _unknownTypeMsg = Expect<Equal<ValidateSignature<"<n:itn>">, 'Invalid argument <n:itn>: unknown type "itn"'>>;
type _badName = Expect<Equal<ValidateSignature<"<1x>">, 'Invalid argument <1x>: name "1x" must be letters, digits or _'>>;
type _badBracket = Expect<Equal<ValidateSignature<"x">, "Invalid argument x: write <name>, [name] or [name=default]">>;
type _dup = Expect<Equal<ValidateSignature<"<a> <a:int>">, 'Duplicate argument "a"'>>;
type _restLast = Expect<Equal<ValidateSignature<"[a...] <b>">, 'Argument "a" takes the rest of the line, so it must be last'>>;
type _reqAfterOpt = Expect<Equal<ValidateSignature<"[a] <b>">, 'Required argument "b" cannot follow an optional one'>>;
type _reqAfterDefault = Expect<Equal<ValidateSignature<"[a=1] <b>">, 'Required argument "b" cannot follow an optional one'>>;
type _variadicDefault = Expect<
  Equal<ValidateSignature<"[a:int*=1]">, "Invalid argument [a:int*=1]: a variadic argument cannot have a default">
>;
type _valid = Expect<Equal<ValidateSignature<"<a> [b]">, "<a> [b]">>;

// signature() rejects invalid literals at compile time (never called: they'd throw at run time).
function _rejectedAtCompileTime(): void {
  // @ts-expect-error unknown type name
  signature("<n:itn>");
  // @ts-expect-error required after optional
  signature("[a] <b>");
  // @ts-expect-error default must be one of the choices
  arg("mode", choice(["a", "b"] as const)).default("c");
  // @ts-expect-error variadic arguments take no default
  arg("ids", variadic(integer())).default([1]);
  // @ts-expect-error parseArguments also validates a literal signature
  void parseArguments("<n:nope>", "", ctx);
}

const hex: ArgumentParser<number> = integer({ base: 16 });
const withTypes = signature("<c:colour> [note...]", { types: { colour: hex }, descriptions: { c: "a colour" } });
type _custom = Expect<Equal<ArgsOf<typeof withTypes>, { c: number; note?: string }>>;
const shadowed = signature("<x:int>", { types: { int: boolean() } });
type _shadow = Expect<Equal<ArgsOf<typeof shadowed>, { x: boolean }>>;

// --- builder ------------------------------------------------------------------------------

const built = args(
  arg("user", user()),
  arg("count", integer({ base: 16, allowFloat: true })),
  arg("mode", choice(["a", "b"] as const)).default("a"),
  arg("ids", variadic(integer())).optional(),
);
type _built = Expect<Equal<ArgsOf<typeof built>, { user: string; count: number; mode: "a" | "b"; ids: number[] }>>;

const built2 = args(
  arg("x", float()).describe("a number"),
  arg("flag", boolean()).optional(),
  arg("reason", rest()).optional(),
);
type _built2 = Expect<Equal<ArgsOf<typeof built2>, { x: number; flag?: boolean; reason?: string }>>;

const built3 = args(arg("payload", rest(json())));
type _built3 = Expect<Equal<ArgsOf<typeof built3>, { payload: unknown }>>;
const built4 = args(arg("links", variadic(matrixTo())).optional());
type _built4 = Expect<Equal<ArgsOf<typeof built4>, { links: MatrixLink[] }>>;
const built5 = args(arg("e", event()), arg("s", string()).default("hi"));
type _built5 = Expect<Equal<ArgsOf<typeof built5>, { e: EventReference; s: string }>>;
type _list = Expect<Equal<typeof built5, ArgumentList<{ e: EventReference; s: string }>>>;
type _none = Expect<Equal<ArgsOf<ReturnType<typeof args>>, NoArgs>>;

// --- runtime ------------------------------------------------------------------------------

const ctx: ParseContext = {
  botUserId: "@bot:x.org",
  roomId: "!room:x.org",
  sender: "@alice:x.org",
  resolveRoomAlias: () => Promise.reject(new Error("no resolver in this test")),
};

test("a signature string's parse result has the inferred type", async () => {
  const parsed = await parseArguments("<user:user> <count:int> [reason...]", "@a:x.org 0x10 too  loud", ctx);
  const typed: Ban = parsed;
  assert.deepEqual(typed, { user: "@a:x.org", count: 16, reason: "too  loud" });
  // @ts-expect-error count is a number, not a string
  const _wrong: string = parsed.count;
});

test("the builder form's parse result has the inferred type", async () => {
  const parsed = await parseArguments(built, "@a:x.org 1f b 1 2 3", ctx);
  const typed: ArgsOf<typeof built> = parsed;
  assert.deepEqual(typed, { user: "@a:x.org", count: 31, mode: "b", ids: [1, 2, 3] });
  assert.deepEqual(await parseArguments(built, "@a:x.org 2.9", ctx), { user: "@a:x.org", count: 2, mode: "a", ids: [] });
});

test("signature() with custom types and descriptions parses with them", async () => {
  const parsed = await parseArguments(withTypes, "ff8800 warm orange", ctx);
  assert.deepEqual(parsed, { c: 0xff8800, note: "warm orange" });
  assert.equal(withTypes.specs[0]?.description, "a colour");
  assert.deepEqual(await parseArguments(shadowed, "yes", ctx), { x: true });
});

test("signature() throws at run time on what the types reject", () => {
  const loose: string = "<n:itn>";
  assert.throws(() => signature(loose), { name: "SyntaxError", message: /unknown type "itn"/ });
});

test("builder rest, optional, variadic and default forms parse as typed", async () => {
  assert.deepEqual(await parseArguments(built2, "1.5", ctx), { x: 1.5 });
  assert.deepEqual(await parseArguments(built2, "1.5 off why  not", ctx), { x: 1.5, flag: false, reason: "why  not" });
  assert.equal(built2.specs[0]?.description, "a number");
  const p3: { payload: unknown } = await parseArguments(built3, '{"a": [1, 2]}', ctx);
  assert.deepEqual(p3, { payload: { a: [1, 2] } });
  const p4: { links: MatrixLink[] } = await parseArguments(built4, "", ctx);
  assert.deepEqual(p4, { links: [] });
  const p5 = await parseArguments(built5, "$ev", ctx);
  assert.deepEqual(p5, { e: { eventId: "$ev" }, s: "hi" });
});
