/**
 * Event content types, following the spec's event schemas
 * (`m.room.message$m.text|m.notice|m.emote`, `m.reaction`, `m.relates_to`,
 * `m.mentions`). Property names are the wire names.
 *
 * @module
 */

/** The only `format` the spec defines for `formatted_body`. */
export const HTML_FORMAT = "org.matrix.custom.html";

/** Text-like message types (`m.notice` is for bots: never auto-answered). */
export type MessageType = "m.text" | "m.notice" | "m.emote";

/**
 * The message type of text sent without an explicit `msgtype`: `m.notice`, which other bots
 * ignore (see the `m.notice` schema). The bot's `defaultMsgtype` option overrides it, in
 * `Messenger` alone.
 */
export const DEFAULT_MSGTYPE: MessageType = "m.notice";

/**
 * `m.mentions`. An empty object means "mentions nobody" and is still worth
 * sending: its presence turns off legacy body-based notification rules.
 * The builders only ever emit `room: true` (the spec says to omit it
 * otherwise); `false` is accepted on input.
 */
export interface Mentions {
  user_ids?: string[];
  room?: boolean;
}

/** `m.in_reply_to`: the rich-reply target. */
export interface InReplyTo {
  event_id: string;
}

/** A plain rich reply: no `rel_type`, only `m.in_reply_to`. */
export interface ReplyRelation {
  "m.in_reply_to": InReplyTo;
}

/**
 * A thread relation. `event_id` is always the thread root. With
 * `is_falling_back: true`, `m.in_reply_to` only gives unthreaded clients a
 * reply chain; with `false` (or absent) it is a genuine reply inside the thread.
 */
export interface ThreadRelation {
  rel_type: "m.thread";
  event_id: string;
  "m.in_reply_to"?: InReplyTo;
  is_falling_back?: boolean;
}

/** `m.replace` (edits). Never carries `m.in_reply_to`. */
export interface ReplaceRelation {
  rel_type: "m.replace";
  event_id: string;
}

/** `m.annotation` (reactions). */
export interface AnnotationRelation {
  rel_type: "m.annotation";
  event_id: string;
  key: string;
}

/** Any `m.relates_to` this module produces. */
export type RelatesTo = ReplyRelation | ThreadRelation | ReplaceRelation | AnnotationRelation;

/** `format` and `formatted_body` come together or not at all. */
export type FormattedBody =
  | { format: typeof HTML_FORMAT; formatted_body: string }
  | { format?: never; formatted_body?: never };

/**
 * Content of an `m.text` / `m.notice` / `m.emote` message, without relations.
 * Also the shape of `m.new_content` in an edit. Extension keys (from
 * `override`) are allowed, hence the index signature.
 */
export type TextMessageContent = {
  msgtype: MessageType;
  body: string;
  "m.mentions"?: Mentions;
  [extension: string]: unknown;
} & FormattedBody;

/** A new (non-edit) text message, optionally a reply and/or in a thread. */
export type RoomMessageContent = TextMessageContent & {
  "m.relates_to"?: ReplyRelation | ThreadRelation;
};

/**
 * An edit: fallback content for clients without edit support (body prefixed
 * with `* `), the real content in `m.new_content`, and the `m.replace`
 * relation. Top-level `m.mentions` only lists who this revision newly mentions.
 */
export type ReplacementContent = TextMessageContent & {
  "m.new_content": TextMessageContent;
  "m.relates_to": ReplaceRelation;
};

/** Content of an `m.reaction` event. */
export interface ReactionContent {
  "m.relates_to": AnnotationRelation;
}
