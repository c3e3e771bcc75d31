/**
 * The parser contract: what an argument parser is and what it may learn about the message.
 * Apart from the parsers themselves, so that parsers in other files can implement it without
 * importing the built-in ones (which import them).
 *
 * @module
 */
import type { ParameterSchema } from "./msc4391/schema.js";

/**
 * What a parser may learn about the message being parsed. The bot builds one per command
 * invocation.
 */
export interface ParseContext {
  /** The message's `formatted_body` (reply fallback stripped), used to resolve mention pills. */
  readonly formattedBody?: string;
  /** Resolve `#alias:server` to a room ID; should reject when the alias does not exist (or the lookup times out). */
  resolveRoomAlias(alias: string): Promise<string>;
  /** Aborts when the command's handler overruns its deadline or the bot stops; custom parsers that block should honour it. */
  readonly signal?: AbortSignal;
  readonly botUserId: string;
  readonly roomId: string;
  readonly sender: string;
}

/**
 * Turns one raw argument into a `T`.
 *
 * `parse` throws `CommandParserError` (or rejects with it) on bad input, normally via
 * `CommandParserError.invalid(expected, raw)`; any other error is treated as a bug and
 * propagates untouched.
 *
 * @example
 * const hexColour: ArgumentParser<number> = {
 *   type: "a colour like #ff8800",
 *   parse(raw) {
 *     if (!/^#[0-9a-f]{6}$/i.test(raw)) throw CommandParserError.invalid("a colour like #ff8800", raw);
 *     return parseInt(raw.slice(1), 16);
 *   },
 * };
 */
export interface ArgumentParser<T> {
  /** What the parser accepts, as a noun phrase completing "expected ..." ("an integer"). */
  readonly type: string;
  /**
   * The MSC4391 type schema published for arguments of this parser (`publishCommands`), so a
   * client can offer a typed input. Default: `string`. A structured invocation's values reach
   * `parse` as text either way (numbers and booleans in their JSON spelling).
   */
  readonly schema?: ParameterSchema;
  parse(raw: string, ctx: ParseContext): T | Promise<T>;
}

/** The value type an {@link ArgumentParser} produces. */
export type ParsedType<P> = P extends ArgumentParser<infer T> ? T : never;
