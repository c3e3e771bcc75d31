/**
 * Reading relations out of received events: edits (`m.replace`), reactions
 * (`m.annotation`), redactions and thread membership. Pure functions over
 * untrusted JSON: anything malformed reads as "no relation".
 *
 * @module
 */
import type { ClientEvent, MessageContent, MessageEvent, ReactionEvent, RedactionEvent } from "../api/events.js";
import { isRecord } from "../util/record.js";

function relatesTo(event: Pick<ClientEvent, "content">): Record<string, unknown> | undefined {
  const rel = (event.content as Record<string, unknown>)["m.relates_to"];
  return isRecord(rel) ? rel : undefined;
}

/** The `rel_type` of an event's `m.relates_to`, if any. */
export function relationType(event: Pick<ClientEvent, "content">): string | undefined {
  const type = relatesTo(event)?.rel_type;
  return typeof type === "string" ? type : undefined;
}

/** An incoming edit: the original's id and the replacement content. */
export interface EditInfo {
  originalEventId: string;
  newContent: MessageContent;
}

/**
 * Reads an `m.room.message` edit (`m.replace` with `m.new_content`). Only the
 * shape is checked here; whether the edit is valid against its original
 * (same sender, same type...) needs the original: see {@link isValidEditOf}.
 *
 * @example
 * editOf(event) // { originalEventId: "$orig", newContent: { msgtype: "m.text", body: "fixed" } }
 */
export function editOf(event: ClientEvent): EditInfo | undefined {
  if (event.type !== "m.room.message" || event.state_key !== undefined) return undefined;
  const rel = relatesTo(event);
  const newContent = (event.content as Record<string, unknown>)["m.new_content"];
  if (rel?.rel_type !== "m.replace" || typeof rel.event_id !== "string" || !isRecord(newContent)) return undefined;
  if (typeof newContent.body !== "string" || typeof newContent.msgtype !== "string") return undefined;
  return { originalEventId: rel.event_id, newContent: newContent as MessageContent };
}

/**
 * The spec's validity rules of a replacement ("Validity of replacement
 * events"): same room, sender and type; neither is a state event; the
 * original is not itself an edit.
 */
export function isValidEditOf(edit: ClientEvent, original: ClientEvent): boolean {
  return (
    edit.room_id === original.room_id &&
    edit.sender === original.sender &&
    edit.type === original.type &&
    original.state_key === undefined &&
    edit.state_key === undefined &&
    relationType(original) !== "m.replace"
  );
}

/** An incoming reaction: the annotated event and the key. */
export interface ReactionInfo {
  targetEventId: string;
  key: string;
}

/** Reads an `m.reaction` (an `m.annotation` with a non-empty key). */
export function reactionOf(event: ClientEvent): ReactionInfo | undefined {
  if (event.type !== "m.reaction") return undefined;
  const rel = relatesTo(event);
  if (rel?.rel_type !== "m.annotation" || typeof rel.event_id !== "string" || typeof rel.key !== "string" || rel.key === "") return undefined;
  return { targetEventId: rel.event_id, key: rel.key };
}

/** The id an `m.room.redaction` redacts: `content.redacts` (room v11+) or the top-level `redacts` of older rooms. */
export function redactedIdOf(event: ClientEvent): string | undefined {
  if (event.type !== "m.room.redaction") return undefined;
  const inContent = (event.content as Record<string, unknown>).redacts;
  if (typeof inContent === "string") return inContent;
  const topLevel = (event as RedactionEvent).redacts;
  return typeof topLevel === "string" ? topLevel : undefined;
}

/** The thread root of an event in a thread (`rel_type: m.thread`), if any. */
export function threadRootOf(event: Pick<ClientEvent, "content">): string | undefined {
  const rel = relatesTo(event);
  return rel?.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
}

/**
 * The content an event shows now: `m.new_content` of the latest edit bundled
 * in `unsigned["m.relations"]["m.replace"]` (as servers aggregate it, and as
 * the message cache keeps it), else the original content. `m.relates_to` of
 * the original is kept, as the spec's "Applying m.new_content" says.
 *
 * @example
 * const event = await bot.fetchMessage(roomId, eventId);
 * currentContent(event).body // the edited text, if it was edited
 */
export function currentContent(event: ClientEvent): Record<string, unknown> {
  const relations = event.unsigned?.["m.relations"];
  const replace = isRecord(relations) ? relations["m.replace"] : undefined;
  const replaced = isRecord(replace) && isRecord(replace.content) ? replace.content["m.new_content"] : undefined;
  if (!isRecord(replaced)) return event.content;
  const { "m.relates_to": _ignored, ...rest } = replaced;
  const rel = (event.content as Record<string, unknown>)["m.relates_to"];
  return rel === undefined ? rest : { ...rest, "m.relates_to": rel };
}

/** What the bot emits for an incoming relation event, besides `event`/`message`. */
export type RelationEmit =
  | { name: "edit"; args: [event: MessageEvent, newContent: MessageContent, originalEventId: string] }
  | { name: "reaction"; args: [event: ReactionEvent, key: string, targetEventId: string] }
  | { name: "redaction"; args: [event: RedactionEvent, redactedEventId: string, reason: string | undefined] };
