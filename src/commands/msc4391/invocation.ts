/**
 * Structured invocations (MSC4391): a message whose content carries
 * `"org.matrix.msc4391.command": { "command": "ban", "arguments": { ... } }`. Every value is
 * untrusted: it is checked for shape and size here, then turned into the same raw text the text
 * form gives each argument, so one set of parsers, defaults and errors serves both forms.
 *
 * @module
 */
import { CommandArgumentsError, CommandParserError } from "../errors.js";
import { parseAssigned } from "../parse.js";
import type { ParseContext } from "../parsers.js";
import type { ArgumentSpec } from "../signature.js";
import { COMMAND_INVOCATION_KEY } from "./schema.js";

/** Longest command name read from a structured invocation. */
export const MAX_STRUCTURED_COMMAND_LENGTH = 256;
/** Longest text accepted for one argument value (or one item of a list). */
export const MAX_STRUCTURED_VALUE_LENGTH = 16_384;
/** Most items accepted for one variadic argument. */
export const MAX_STRUCTURED_ITEMS = 256;
/** Most `via` servers read from a room or event reference. */
const MAX_VIA = 32;
/** Longest argument name quoted back in an error. */
const MAX_NAME_SHOWN = 60;

/** What a message's structured invocation block amounts to. */
export type StructuredInvocation =
  /** No block: the message is read in the text form. */
  | { readonly kind: "none" }
  /** A block addressed to someone else (`m.mentions` does not name this bot): not ours at all. */
  | { readonly kind: "elsewhere" }
  /** A block addressed to this bot that cannot be used; `reason` is said to the sender. */
  | { readonly kind: "malformed"; readonly reason: string }
  /** A usable block: the command name and its arguments object (not yet checked against the command). */
  | { readonly kind: "command"; readonly name: string; readonly arguments: Readonly<Record<string, unknown>> };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether the content's `m.mentions.user_ids` names the bot. */
function mentionsBot(content: Readonly<Record<string, unknown>>, botUserId: string): boolean {
  const mentions = content["m.mentions"];
  if (!isRecord(mentions) || !Array.isArray(mentions.user_ids)) return false;
  return mentions.user_ids.includes(botUserId);
}

/** A name from untrusted input, cut for quoting in a reply. */
export function shownName(name: string): string {
  return name.length > MAX_NAME_SHOWN ? `${name.slice(0, MAX_NAME_SHOWN - 1)}…` : name;
}

/**
 * Reads the structured invocation block of a message's content. The MSC has clients put the bot
 * in `m.mentions` so that two bots with a `ban` command do not both act: a block that does not
 * mention this bot is `elsewhere`.
 *
 * @example
 * readStructuredInvocation({ body: "/add 2 3", msgtype: "m.text", "m.mentions": { user_ids: ["@bot:x"] },
 *   "org.matrix.msc4391.command": { command: "add", arguments: { a: 2, b: 3 } } }, "@bot:x")
 * // => { kind: "command", name: "add", arguments: { a: 2, b: 3 } }
 */
export function readStructuredInvocation(content: Readonly<Record<string, unknown>>, botUserId: string): StructuredInvocation {
  if (!Object.hasOwn(content, COMMAND_INVOCATION_KEY)) return { kind: "none" };
  if (!mentionsBot(content, botUserId)) return { kind: "elsewhere" };
  const block = content[COMMAND_INVOCATION_KEY];
  if (!isRecord(block)) return { kind: "malformed", reason: `${COMMAND_INVOCATION_KEY} is not an object` };
  const name = block.command;
  if (typeof name !== "string" || name.trim() === "") return { kind: "malformed", reason: "the command name is missing" };
  if (name.length > MAX_STRUCTURED_COMMAND_LENGTH) return { kind: "malformed", reason: `the command name is longer than ${MAX_STRUCTURED_COMMAND_LENGTH} characters` };
  const args = block.arguments ?? {};
  if (!isRecord(args)) return { kind: "malformed", reason: "the arguments are not an object" };
  return { kind: "command", name: name.trim(), arguments: args };
}

/** Describes a rejected value without echoing it whole. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  return typeof value === "object" ? "an object" : typeof value;
}

function reject(spec: ArgumentSpec, got: string, detail?: string): never {
  throw CommandParserError.invalid(spec.parser.type, got, detail).forArgument(spec.name);
}

function checkedText(spec: ArgumentSpec, text: string): string {
  if (text.length > MAX_STRUCTURED_VALUE_LENGTH) reject(spec, text.slice(0, 60), `longer than ${MAX_STRUCTURED_VALUE_LENGTH} characters`);
  return text;
}

/**
 * A room or event reference (`{ "type": "room_id", "id": "!r:x", "via": [...] }`; the MSC's prose
 * also names the field `room_id`) as the text the `room`/`event` parsers read: the room ID, or a
 * matrix.to link when it names an event.
 */
function referenceText(spec: ArgumentSpec, value: Record<string, unknown>): string {
  const roomId = typeof value.id === "string" ? value.id : value.room_id;
  if (typeof roomId !== "string") return reject(spec, "an object", "a room reference needs an \"id\"");
  checkedText(spec, roomId);
  const eventId = value.event_id;
  if (eventId === undefined) return roomId;
  if (typeof eventId !== "string") return reject(spec, "an object", "\"event_id\" is not text");
  checkedText(spec, eventId);
  const via = Array.isArray(value.via) ? value.via.slice(0, MAX_VIA).filter((s): s is string => typeof s === "string" && s.length <= 255) : [];
  const query = via.length === 0 ? "" : `?${via.map((s) => `via=${encodeURIComponent(s)}`).join("&")}`;
  return `https://matrix.to/#/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}${query}`;
}

/** One JSON value as the raw text its parser reads; numbers and booleans in their JSON spelling. */
function rawOf(spec: ArgumentSpec, value: unknown): string {
  if (typeof value === "string") return checkedText(spec, value);
  // JSON numbers are finite; -0 prints as "0".
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : reject(spec, String(value));
  if (typeof value === "boolean") return String(value);
  if (isRecord(value)) return referenceText(spec, value);
  return reject(spec, kindOf(value));
}

/** The raw inputs of one parameter; `null` when absent. */
function slotOf(spec: ArgumentSpec, value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (spec.mode !== "variadic") return Array.isArray(value) ? reject(spec, "a list", "give one value") : [rawOf(spec, value)];
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_STRUCTURED_ITEMS) reject(spec, `a list of ${items.length}`, `at most ${MAX_STRUCTURED_ITEMS} items`);
  const raws = items.map((item) => (Array.isArray(item) ? reject(spec, "a list inside a list") : rawOf(spec, item)));
  return raws.length === 0 ? null : raws;
}

/**
 * Parses a structured invocation's arguments object into the typed args object of the command,
 * through the same parsers as the text form. Errors, in the order checked:
 * - {@link CommandArgumentsError} `unknown` for a key the command has no argument for;
 * - argument by argument, in declaration order: {@link CommandParserError} naming the argument
 *   for a value of the wrong shape (a list for a single value, an object that is not a room
 *   reference, text over {@link MAX_STRUCTURED_VALUE_LENGTH}, more than
 *   {@link MAX_STRUCTURED_ITEMS} items), or {@link CommandArgumentsError} `missing` for a
 *   required argument that is absent or `null`;
 * - then whatever the parsers say, exactly as for text (before any parser runs, so no alias
 *   is resolved in vain).
 *
 * @example
 * await parseStructuredArguments(specsOf("<a:int> <b:int>"), { a: 2, b: "3" }, ctx, { usage: "!add <a> <b>" })
 * // => { a: 2, b: 3 }
 */
export async function parseStructuredArguments(
  specs: readonly ArgumentSpec[],
  args: Readonly<Record<string, unknown>>,
  ctx: ParseContext,
  options: { readonly usage: string },
): Promise<Record<string, unknown>> {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  for (const key of Object.keys(args)) {
    if (!byName.has(key)) throw CommandArgumentsError.unknown(shownName(key), options.usage);
  }
  const slots: (string[] | null)[] = [];
  for (const spec of specs) {
    const slot = slotOf(spec, Object.hasOwn(args, spec.name) ? args[spec.name] : undefined);
    if (slot === null && spec.required) throw CommandArgumentsError.missing(spec.name, options.usage);
    slots.push(slot);
  }
  return parseAssigned(specs, slots, ctx);
}
