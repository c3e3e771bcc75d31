/**
 * The wire format of MSC4391 ("Simplified in-room bot commands"), with its unstable
 * identifiers: command description state events and the structured invocation block.
 *
 * Followed revision: matrix-org/matrix-spec-proposals, `proposals/4391-simplified-in-room-bot-commands.md`
 * at commit bce86144787f0621e0a8f19bcca7e5b31831fd0b (parameters carry a `schema` object with a
 * `schema_type`; `optional: true` marks a parameter that may be left out; the state key is the
 * padded base64 SHA-256 of the command plus the bot's user ID). This is also the shape
 * mautrix-go's `cmdschema` (gomuks) reads.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** State event type of a command description (stable name: `m.bot.command_description`). */
export const COMMAND_DESCRIPTION_EVENT_TYPE = "org.matrix.msc4391.command_description";

/** Content key of a structured invocation in a message (stable name: `m.bot.command`). */
export const COMMAND_INVOCATION_KEY = "org.matrix.msc4391.command";

/** The primitive argument types the MSC predefines. */
export type PrimitiveType = "string" | "integer" | "boolean" | "user_id" | "server_name" | "room_alias" | "room_id" | "event_id";

/**
 * An MSC4391 type schema. Arrays only at the top level, unions only at the top level or as array
 * items, and union variants only primitives or literals (the MSC's restrictions).
 */
export type ParameterSchema =
  | { readonly schema_type: "primitive"; readonly type: PrimitiveType }
  | { readonly schema_type: "literal"; readonly value: string | number | boolean; readonly literal_type: "string" | "integer" | "boolean" }
  | { readonly schema_type: "union"; readonly variants: readonly ParameterSchema[] }
  | { readonly schema_type: "array"; readonly items: ParameterSchema };

/** An MSC1767 text block, as the MSC uses for descriptions. */
export interface ExtensibleText {
  readonly "m.text": readonly { readonly body: string }[];
}

/** One parameter of a published command. */
export interface ParameterDescription {
  readonly key: string;
  readonly schema: ParameterSchema;
  /** Present (and true) only when the parameter may be left out. */
  readonly optional?: true;
  readonly description?: ExtensibleText;
}

/** Content of a `org.matrix.msc4391.command_description` state event. */
export interface CommandDescriptionContent {
  readonly command: string;
  readonly parameters: readonly ParameterDescription[];
  readonly description?: ExtensibleText;
}

/** A primitive schema. */
export function primitive(type: PrimitiveType): ParameterSchema {
  return { schema_type: "primitive", type };
}

/** Wraps plain text as an MSC1767 `m.text` block. */
export function extensibleText(body: string): ExtensibleText {
  return { "m.text": [{ body }] };
}

/**
 * The state key of a command's description: padded base64 of SHA-256 over the command followed by
 * the bot's user ID, so two bots never overwrite each other's descriptions.
 *
 * @example
 * commandStateKey("ban", "@draupnir:draupnir.space") // 44 characters, ending in "="
 */
export function commandStateKey(command: string, botUserId: string): string {
  return createHash("sha256").update(command + botUserId, "utf8").digest("base64");
}
