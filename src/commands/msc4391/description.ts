/**
 * A command's MSC4391 description, derived from what `help` shows: the summary, the argument
 * names, their parsers' types and descriptions. Nothing here is written by the bot author twice.
 *
 * @module
 */
import type { Command } from "../command.js";
import type { ArgumentSpec } from "../signature.js";
import {
  commandStateKey,
  extensibleText,
  primitive,
  type CommandDescriptionContent,
  type ParameterDescription,
  type ParameterSchema,
} from "./schema.js";

/**
 * The schema of one argument: its parser's (`string` when the parser declares none), as an array
 * for a variadic argument. A greedy (`rest`) argument is one string-like value.
 */
export function schemaOfSpec(spec: ArgumentSpec): ParameterSchema {
  const item = spec.parser.schema ?? primitive("string");
  return spec.mode === "variadic" ? { schema_type: "array", items: item } : item;
}

/** One argument as a parameter description; `help <command>` shows the same name, type and text. */
export function describeParameter(spec: ArgumentSpec): ParameterDescription {
  return {
    key: spec.name,
    schema: schemaOfSpec(spec),
    // A variadic argument may be empty unless required; a defaulted one may be left out.
    ...(spec.required ? {} : { optional: true as const }),
    description: extensibleText(spec.description ?? spec.parser.type),
  };
}

/**
 * The description content of a command: its name, its arguments in declaration order (required
 * ones first, as signatures demand), and its summary (the first line of its description).
 *
 * @example
 * describeCommand(bot.commands.get("add")!)
 * // { command: "add", parameters: [{ key: "a", schema: { schema_type: "primitive", type: "integer" }, ... }, ...],
 * //   description: { "m.text": [{ body: "Adds two numbers." }] } }
 */
export function describeCommand(command: Command): CommandDescriptionContent {
  const summary = command.summary;
  return {
    command: command.name,
    parameters: command.specs.map(describeParameter),
    ...(summary === undefined ? {} : { description: extensibleText(summary) }),
  };
}

/**
 * The descriptions a bot publishes, by state key: every command that `help` would list to
 * someone allowed to run it (hidden commands are left out).
 */
export function describeCommands(commands: Iterable<Command>, botUserId: string): Map<string, CommandDescriptionContent> {
  const out = new Map<string, CommandDescriptionContent>();
  for (const command of commands) {
    if (command.hidden) continue;
    out.set(commandStateKey(command.name, botUserId), describeCommand(command));
  }
  return out;
}

/** JSON with object keys sorted, so two contents compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Whether two event contents are the same JSON. */
export function sameContent(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
