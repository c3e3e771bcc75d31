/**
 * Parsers for Matrix entities: users, rooms, events, links and media. Re-exported by
 * `parsers.ts`, which is where to import them from.
 *
 * @module
 */
import { isAbortError } from "../util/async.js";
import { CommandParserError } from "./errors.js";
import { isEventId, isMxcUri, isRoomAlias, isRoomId, isUserId } from "../ids/grammar.js";
import { parseMatrixLink, type MatrixLink } from "../ids/links.js";
import { userPills } from "./matrix.js";
import type { ArgumentParser, ParseContext } from "./parser-types.js";
import { primitive } from "./msc4391/schema.js";

function fail(expected: string, raw: string, detail?: string, cause?: unknown): never {
  throw CommandParserError.invalid(expected, raw, detail, cause === undefined ? undefined : { cause });
}

/**
 * A user: `@user:server`, a matrix.to / `matrix:` link to one, or the text of a mention pill
 * (the display name a client puts in the plain body), mapped to the user it links to in the
 * message's `formatted_body`. Gives the user ID.
 */
export function user(): ArgumentParser<string> {
  const type = "a user ID, mention or matrix.to link";
  return {
    type,
    schema: primitive("user_id"),
    parse(raw, ctx) {
      if (isUserId(raw)) return raw;
      const link = parseMatrixLink(raw);
      if (link?.kind === "user") return link.userId;
      const pill = userPills(ctx.formattedBody).find((p) => p.text === raw);
      return pill?.userId ?? fail(type, raw);
    },
  };
}

async function resolveAlias(alias: string, ctx: ParseContext, type: string, raw: string): Promise<string> {
  try {
    return await ctx.resolveRoomAlias(alias);
  } catch (err) {
    return fail(type, raw, `could not resolve ${alias}${isAbortError(err) || (err as Error)?.name === "HandlerTimeoutError" ? " in time" : ""}`, err);
  }
}

/**
 * A room: `!id:server`, `#alias:server`, or a matrix.to / `matrix:` link to either (`?via=`
 * allowed). Aliases are resolved through {@link ParseContext.resolveRoomAlias}; gives the
 * room ID.
 */
export function room(): ArgumentParser<string> {
  const type = "a room ID, alias or matrix.to link";
  return {
    type,
    schema: { schema_type: "union", variants: [primitive("room_id"), primitive("room_alias")] },
    async parse(raw, ctx) {
      const link = parseMatrixLink(raw);
      const target = link?.kind === "room" ? link.roomIdOrAlias : raw;
      if (isRoomId(target)) return target;
      if (isRoomAlias(target)) return resolveAlias(target, ctx, type, raw);
      return fail(type, raw);
    },
  };
}

/** What {@link event} gives: the event ID, and its room when the input named one. */
export interface EventReference {
  /** Set when the input was a link; aliases already resolved to a room ID. */
  readonly roomId?: string;
  readonly eventId: string;
}

/**
 * An event: `$eventId`, or a matrix.to / `matrix:` link to an event
 * (`https://matrix.to/#/!room:server/$event`). Gives an {@link EventReference}.
 */
export function event(): ArgumentParser<EventReference> {
  const type = "an event ID or matrix.to link to an event";
  return {
    type,
    schema: primitive("event_id"),
    async parse(raw, ctx) {
      if (isEventId(raw)) return { eventId: raw };
      const link = parseMatrixLink(raw);
      if (link?.kind !== "event") return fail(type, raw);
      const roomId = isRoomId(link.roomIdOrAlias)
        ? link.roomIdOrAlias
        : await resolveAlias(link.roomIdOrAlias, ctx, type, raw);
      return { roomId, eventId: link.eventId };
    },
  };
}

/** Any valid matrix.to / `matrix:` link, parsed but not resolved. */
export function matrixTo(): ArgumentParser<MatrixLink> {
  const type = "a matrix.to link";
  return {
    type,
    schema: primitive("string"),
    parse(raw) {
      return parseMatrixLink(raw) ?? fail(type, raw);
    },
  };
}

/** An `mxc://server/mediaId` URI, validated and returned as given. */
export function mxc(): ArgumentParser<string> {
  const type = "an mxc:// URI";
  return {
    type,
    schema: primitive("string"),
    parse(raw) {
      return isMxcUri(raw) ? raw : fail(type, raw);
    },
  };
}
