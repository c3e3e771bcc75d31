/**
 * Shapes of Matrix events as the client-server API delivers them, from the
 * spec's event schemas. Only the fields niobot reads are typed strictly;
 * everything else stays reachable as `unknown`.
 */

/** `unsigned` data the server attaches to an event. */
export interface UnsignedData {
  age?: number;
  transaction_id?: string;
  prev_content?: Record<string, unknown>;
  redacted_because?: ClientEvent;
  membership?: string;
  "m.relations"?: Record<string, unknown>;
  [key: string]: unknown;
}

/** An event in a room, as `/sync`, `/messages` and `/event` return it. */
export interface ClientEvent<C extends object = Record<string, unknown>> {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: C;
  /** Present on state events only. */
  state_key?: string;
  unsigned?: UnsignedData;
  /** Filled in by niobot when the server omits it (sync timelines do). */
  room_id: string;
}

/** A state event: a {@link ClientEvent} that always has a `state_key`. */
export interface StateEvent<C extends object = Record<string, unknown>> extends ClientEvent<C> {
  state_key: string;
}

/** The reduced state shown for invites (`invite_state`). */
export interface StrippedStateEvent<C extends object = Record<string, unknown>> {
  type: string;
  state_key: string;
  sender: string;
  content: C;
}

/** An event without a room: account data, to-device and presence. */
export interface BasicEvent<C extends object = Record<string, unknown>> {
  type: string;
  content: C;
  sender?: string;
}

/** Membership states, `m.room.member` `content.membership`. */
export type Membership = "join" | "invite" | "leave" | "ban" | "knock";

/** Content of `m.room.member`. */
export interface MemberContent {
  membership: Membership;
  displayname?: string | null;
  avatar_url?: string | null;
  is_direct?: boolean;
  reason?: string;
  [key: string]: unknown;
}

/** Content of `m.room.power_levels`. */
export interface PowerLevelsContent {
  users?: Record<string, number>;
  users_default?: number;
  events?: Record<string, number>;
  events_default?: number;
  state_default?: number;
  ban?: number;
  kick?: number;
  redact?: number;
  invite?: number;
  notifications?: Record<string, number>;
}

/** Content of `m.room.create`. */
export interface CreateContent {
  creator?: string;
  room_version?: string;
  type?: string;
  /** Room version 12: further creators, who (with the sender) outrank everyone. */
  additional_creators?: string[];
  predecessor?: { room_id: string; event_id?: string };
  [key: string]: unknown;
}

/** Content of `m.room.tombstone`. */
export interface TombstoneContent {
  body: string;
  replacement_room: string;
}

/** Content of `m.room.encryption`. */
export interface EncryptionContent {
  algorithm: string;
  rotation_period_ms?: number;
  rotation_period_msgs?: number;
}

/** Content of `m.room.name`. */
export interface NameContent {
  name: string;
}

/** Content of `m.room.redaction` (the redacted id is in `content.redacts` since v11). */
export interface RedactionContent {
  redacts?: string;
  reason?: string;
}

/** Content of a received `m.reaction` (the outgoing builder type is `ReactionContent`). */
export interface AnnotationContent {
  "m.relates_to": { rel_type: "m.annotation"; event_id: string; key: string };
}

/** The relation block of a received event: replies, threads, edits and annotations, loosely typed. */
export interface EventRelation {
  rel_type?: string;
  event_id?: string;
  key?: string;
  is_falling_back?: boolean;
  "m.in_reply_to"?: { event_id: string };
}

/** Content of `m.room.message`, by the fields every msgtype shares. */
export interface MessageContent {
  msgtype: string;
  body: string;
  format?: string;
  formatted_body?: string;
  "m.relates_to"?: EventRelation;
  "m.new_content"?: MessageContent;
  "m.mentions"?: { user_ids?: string[]; room?: boolean };
  url?: string;
  info?: Record<string, unknown>;
  filename?: string;
  [key: string]: unknown;
}

/** An `m.room.message` event. */
export type MessageEvent = ClientEvent<MessageContent>;
/** An `m.room.member` event. */
export type MemberEvent = StateEvent<MemberContent>;
/** An `m.reaction` event. */
export type ReactionEvent = ClientEvent<AnnotationContent>;
/** An `m.room.redaction` event (`redacts` at top level in rooms before v11). */
export type RedactionEvent = ClientEvent<RedactionContent> & { redacts?: string };

/** Tells whether a value looks like a complete room event. */
export function isClientEvent(value: unknown): value is ClientEvent {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.event_id === "string" &&
    typeof e.type === "string" &&
    typeof e.sender === "string" &&
    typeof e.content === "object" && e.content !== null && !Array.isArray(e.content)
  );
}

/** Tells whether an event is a usable `m.room.message` (has a string body and msgtype). */
export function isMessageEvent(event: ClientEvent): event is MessageEvent {
  return (
    event.type === "m.room.message" &&
    typeof event.content.body === "string" &&
    typeof event.content.msgtype === "string"
  );
}
