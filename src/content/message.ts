/**
 * Builders for `m.room.message` (new messages, replies, threads, edits) and
 * `m.reaction` content. Pure functions: no network, no client state.
 *
 * @module
 */
import { renderMarkdown } from "./markdown.js";
import { detectMentions } from "./mentions.js";
import { isUserId } from "../ids/grammar.js";
import { htmlToPlainText } from "./plaintext.js";
import { sanitizeHtml } from "./sanitize.js";
import {
  DEFAULT_MSGTYPE,
  HTML_FORMAT,
  type FormattedBody,
  type Mentions,
  type MessageType,
  type ReactionContent,
  type ReplaceRelation,
  type ReplyRelation,
  type ReplacementContent,
  type RoomMessageContent,
  type TextMessageContent,
  type ThreadRelation,
} from "./types.js";

export type { MessageType } from "./types.js";

/**
 * How `text` is interpreted:
 * - `markdown` (default): CommonMark + GFM, sanitised; `body` is the source.
 * - `html`: HTML, sanitised to the spec subset; `body` derived from it.
 * - `raw-html`: HTML sent **unsanitised** (only for trusted, hand-written
 *   markup the sanitiser would alter); `body` derived from it.
 * - `plain`: `body` only, no `formatted_body`.
 */
export type MessageFormat = "markdown" | "html" | "raw-html" | "plain";

/** The event being replied to. */
export interface ReplyTo {
  eventId: string;
  /** Its sender: added to `m.mentions` so they get notified (see `mentionSender`). */
  sender?: string;
  /** Set to `false` to reply without notifying `sender`. Default `true`. */
  mentionSender?: boolean;
  /**
   * The thread root, if the replied-to event is inside a thread: the reply
   * then stays in that thread. {@link replyTargetFromEvent} fills it in.
   */
  threadRootId?: string;
}

/** Post into a thread without replying to a particular message. */
export interface ThreadTarget {
  rootId: string;
  /**
   * Latest event in the thread known to us, for the reply-chain fallback that
   * unthreaded clients see. Defaults to the root.
   */
  latestEventId?: string;
}

/**
 * `m.mentions` policy.
 * - `"detect"` (default): users pilled or written as `@user:server` in the
 *   text (see `detectMentions`); never `@room`.
 * - an object: exactly `userIds`, plus detected ones if `detect: true`, plus
 *   the room if `room: true`.
 * In every mode the replied-to sender is added (unless `mentionSender: false`)
 * and `ownUserId` removed. The result is always sent, `{}` if empty.
 */
export type MentionsOption = "detect" | { userIds?: string[]; room?: boolean; detect?: boolean };

/** Options shared by new messages and edits. */
export interface ContentOptions {
  /** Default `"markdown"`. */
  format?: MessageFormat;
  /** Default `"m.notice"`: bots should not trigger other bots (see the `m.notice` schema). */
  msgtype?: MessageType;
  /** Default `"detect"`. */
  mentions?: MentionsOption;
  /** The sending user; never put in `m.mentions` (the spec forbids self-mentions). */
  ownUserId?: string;
  /**
   * Merged into the content last (for edits: into `m.new_content`). Plain
   * objects merge recursively, anything else replaces, and `undefined`
   * deletes the key. Values are copied, so later mutation of `override`
   * doesn't leak into built content.
   */
  override?: Record<string, unknown>;
}

/** Options for {@link buildMessageContent}. */
export interface MessageOptions extends ContentOptions {
  replyTo?: ReplyTo;
  thread?: ThreadTarget;
}

/** Options for {@link buildEditContent}. */
export interface EditOptions extends ContentOptions {
  /**
   * `m.mentions` of the version being replaced. Users (and the room) not in it
   * are notified by this edit; without it the edit notifies nobody.
   */
  previousMentions?: Mentions;
}

function render(text: string, format: MessageFormat): { body: string; html?: string | undefined } {
  switch (format) {
    case "markdown": return renderMarkdown(text);
    case "plain": return { body: text };
    case "html": {
      const html = sanitizeHtml(text);
      return { body: htmlToPlainText(html), html: html === "" ? undefined : html };
    }
    case "raw-html": return { body: htmlToPlainText(text), html: text === "" ? undefined : text };
  }
}

function requireUserId(id: string, what: string): string {
  if (!isUserId(id)) throw new RangeError(`${what} is not a Matrix user ID: ${JSON.stringify(id)}`);
  return id;
}

function resolveMentions(opts: ContentOptions, body: string, html: string | undefined, reply?: ReplyTo): Mentions {
  const option = opts.mentions ?? "detect";
  const spec = option === "detect" ? { detect: true } : option;
  const ids = (spec.userIds ?? []).map((id) => requireUserId(id, "mentions.userIds entry"));
  if (spec.detect === true) ids.push(...detectMentions(body, html));
  if (reply?.sender !== undefined && reply.mentionSender !== false) ids.push(requireUserId(reply.sender, "replyTo.sender"));
  const unique = [...new Set(ids)].filter((id) => id !== opts.ownUserId);
  return {
    ...(unique.length > 0 ? { user_ids: unique } : {}),
    ...(spec.room === true ? { room: true } : {}),
  };
}

function formattedFields(html: string | undefined): FormattedBody {
  return html === undefined ? {} : { format: HTML_FORMAT, formatted_body: html };
}

function baseContent(text: string, opts: ContentOptions, reply?: ReplyTo): TextMessageContent {
  const { body, html } = render(text, opts.format ?? "markdown");
  return {
    msgtype: opts.msgtype ?? DEFAULT_MSGTYPE,
    body,
    ...formattedFields(html),
    "m.mentions": resolveMentions(opts, body, html, reply),
  };
}

function relation(reply: ReplyTo | undefined, thread: ThreadTarget | undefined): ReplyRelation | ThreadRelation | undefined {
  if (thread !== undefined && reply?.threadRootId !== undefined && reply.threadRootId !== thread.rootId) {
    throw new RangeError("replyTo.threadRootId and thread.rootId name different threads");
  }
  const root = thread?.rootId ?? reply?.threadRootId;
  if (root === undefined) return reply === undefined ? undefined : { "m.in_reply_to": { event_id: reply.eventId } };
  // A reply inside a thread is a real reply (is_falling_back false); without
  // one, m.in_reply_to only exists so unthreaded clients see a reply chain.
  const replyTarget = reply?.eventId ?? thread?.latestEventId ?? root;
  return { rel_type: "m.thread", event_id: root, "m.in_reply_to": { event_id: replyTarget }, is_falling_back: reply === undefined };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Merges `patch` into `target` with the semantics of `override` everywhere a
 * content is built: plain objects merge recursively, `undefined` deletes a
 * key, anything else replaces (copied). Returns a new object.
 *
 * @example
 * mergeContent({ body: "a", info: { w: 1 } }, { info: { h: 2 }, body: undefined }) // { info: { w: 1, h: 2 } }
 */
export function mergeContent(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    // An own "__proto__" key (possible from JSON.parse) would re-prototype `out`.
    if (key === "__proto__") continue;
    const existing = out[key];
    if (value === undefined) delete out[key];
    else if (isPlainObject(value) && isPlainObject(existing)) out[key] = mergeContent(existing, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/**
 * Builds `m.room.message` content for a text/notice/emote message.
 *
 * Replies follow spec v1.13+: only `m.relates_to.m.in_reply_to`, no quoted
 * fallback in `body`/`formatted_body`. Replying to an event inside a thread
 * keeps the reply in the thread; `thread` posts into a thread with the
 * `is_falling_back: true` reply fallback for unthreaded clients.
 *
 * @throws RangeError for malformed user IDs in mentions or conflicting thread ids.
 * @example
 * buildMessageContent("Done!", { replyTo: { eventId: "$ev", sender: "@alice:example.org" } })
 * // { msgtype: "m.notice", body: "Done!",
 * //   "m.mentions": { user_ids: ["@alice:example.org"] },
 * //   "m.relates_to": { "m.in_reply_to": { event_id: "$ev" } } }
 */
export function buildMessageContent(text: string, opts: MessageOptions = {}): RoomMessageContent {
  const content: RoomMessageContent = baseContent(text, opts, opts.replyTo);
  const rel = relation(opts.replyTo, opts.thread);
  if (rel !== undefined) content["m.relates_to"] = rel;
  return (opts.override === undefined ? content : mergeContent(content, opts.override)) as RoomMessageContent;
}

/**
 * Builds an edit (`m.replace`) of `originalEventId` — which must be the
 * original event, not an earlier edit. `m.new_content` holds the new message
 * with its complete `m.mentions`; the top level is the `* `-prefixed fallback
 * whose `m.mentions` lists only users newly mentioned compared with
 * `previousMentions`, so edits don't re-notify. Relations of the original
 * (reply, thread) are kept by the spec's rules and must not be repeated.
 *
 * @example
 * buildEditContent("$orig", "Hello Alice & Bob", { format: "plain", mentions: { userIds: ["@alice:x.org", "@bob:x.org"] },
 *   previousMentions: { user_ids: ["@alice:x.org"] } })
 * // { msgtype: "m.notice", body: "* Hello Alice & Bob", "m.mentions": { user_ids: ["@bob:x.org"] },
 * //   "m.new_content": { msgtype: "m.notice", body: "Hello Alice & Bob",
 * //                      "m.mentions": { user_ids: ["@alice:x.org", "@bob:x.org"] } },
 * //   "m.relates_to": { rel_type: "m.replace", event_id: "$orig" } }
 */
export function buildEditContent(originalEventId: string, newText: string, opts: EditOptions = {}): ReplacementContent {
  const base = baseContent(newText, opts);
  const newContent = (opts.override === undefined ? base : mergeContent(base, opts.override)) as TextMessageContent;
  const all = base["m.mentions"] ?? {};
  const before = opts.previousMentions;
  // `{}` means the replaced version mentioned nobody; only an absent `before` means "unknown".
  const previous = new Set(before === undefined ? all.user_ids ?? [] : before.user_ids ?? []);
  const added = (all.user_ids ?? []).filter((id) => !previous.has(id));
  const roomAdded = all.room === true && before !== undefined && before.room !== true;
  const rel: ReplaceRelation = { rel_type: "m.replace", event_id: originalEventId };
  return {
    msgtype: base.msgtype,
    body: `* ${base.body}`,
    ...formattedFields(base.formatted_body === undefined ? undefined : `* ${base.formatted_body}`),
    "m.mentions": { ...(added.length > 0 ? { user_ids: added } : {}), ...(roomAdded ? { room: true } : {}) },
    "m.new_content": newContent,
    "m.relates_to": rel,
  };
}

/**
 * Adds U+FE0F (emoji presentation selector) to a lone emoji whose default
 * presentation is text, as the `m.reaction` schema asks. Clients count
 * reactions per exact key, so `❤` and `❤️` would otherwise be tallied apart.
 *
 * @example
 * withEmojiPresentation("❤") // "❤\uFE0F"
 * withEmojiPresentation("👍") // "👍" (already emoji presentation)
 */
export function withEmojiPresentation(key: string): string {
  const chars = [...key];
  const only = chars.length === 1 ? chars[0] : undefined;
  const textDefault = only !== undefined && /\p{Emoji}/u.test(only) && !/\p{Emoji_Presentation}/u.test(only);
  // Digits, '#' and '*' are Emoji=Yes (keycap bases) but are plain text here.
  return textDefault && !/[0-9#*]/.test(only) ? `${only}\uFE0F` : key;
}

/**
 * Builds `m.reaction` content (an `m.annotation`). Reactions must target the
 * original event, never an edit or another reaction. The key is normalised
 * with {@link withEmojiPresentation} unless `normalize` is `false`.
 *
 * @throws RangeError if `key` is empty.
 * @example
 * buildReactionContent("$ev", "👍")
 * // { "m.relates_to": { rel_type: "m.annotation", event_id: "$ev", key: "👍" } }
 */
export function buildReactionContent(eventId: string, key: string, opts: { normalize?: boolean } = {}): ReactionContent {
  if (key === "") throw new RangeError("reaction key must not be empty");
  const normalised = opts.normalize === false ? key : withEmojiPresentation(key);
  return { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key: normalised } };
}

/**
 * Reads a {@link ReplyTo} from a received event, including the thread it
 * belongs to, so that replies to threaded messages stay in their thread.
 *
 * @example
 * replyTargetFromEvent({ event_id: "$e", sender: "@a:x.org",
 *   content: { "m.relates_to": { rel_type: "m.thread", event_id: "$root" } } })
 * // { eventId: "$e", sender: "@a:x.org", threadRootId: "$root" }
 */
export function replyTargetFromEvent(event: { event_id: string; sender: string; content?: unknown }): ReplyTo {
  const rel = isPlainObject(event.content) ? event.content["m.relates_to"] : undefined;
  const root = isPlainObject(rel) && rel.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
  return { eventId: event.event_id, sender: event.sender, ...(root === undefined ? {} : { threadRootId: root }) };
}
