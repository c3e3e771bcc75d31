/**
 * Turning what a bot author passes (text or a content object, plus options)
 * into `m.room.message` content, on top of the pure builders of `content/`.
 *
 * @module
 */
import type { ClientEvent } from "../api/events.js";
import { buildMessageContent, mergeContent, type MentionsOption, type MessageOptions } from "../content/message.js";
import type { MessageType } from "../content/types.js";
import { relationType, threadRootOf } from "./relations.js";

/** Content a bot can send: text (rendered per `format`) or a ready content object. */
export type Sendable = string | Record<string, unknown>;

/** Options of `bot.reply`. */
export interface ReplyOptions extends Omit<MessageOptions, "replyTo" | "thread"> {
  /**
   * Where the answer goes:
   * - `undefined` (default): a rich reply; if the event is in a thread, the
   *   reply stays in that thread.
   * - `true`: into a thread, as its latest message (with the reply fallback
   *   for unthreaded clients): the event's thread, or a new one rooted at
   *   the event.
   * - `false`: a plain reply in the main timeline, even to a threaded event.
   */
  thread?: boolean;
  /** Notify the event's sender (default true): they are added to `m.mentions`. */
  mentionSender?: boolean;
}

/** Defaults the bot applies to every message it builds. */
export interface ComposeDefaults {
  msgtype: MessageType;
  ownUserId: string;
}

/**
 * Builds the content of a message.
 *
 * - Text goes through `buildMessageContent` with the bot's default msgtype
 *   and own user id (never self-mentioned); every option applies.
 * - A content object is sent as given, except that `replyTo`/`thread` add
 *   `m.relates_to` (unless it has one), those or `mentions` add a computed
 *   `m.mentions` (unless it has one), and `override` is merged last.
 *   `format` and `msgtype` don't apply to objects.
 */
export function composeMessage(content: Sendable, options: MessageOptions, defaults: ComposeDefaults): Record<string, unknown> {
  if (typeof content === "string") {
    return buildMessageContent(content, { msgtype: defaults.msgtype, ownUserId: defaults.ownUserId, ...options }) as Record<string, unknown>;
  }
  let out: Record<string, unknown> = { ...content };
  const { replyTo, thread, mentions, override } = options;
  if (replyTo !== undefined || thread !== undefined || mentions !== undefined) {
    const body = typeof content.body === "string" ? content.body : "";
    const html = typeof content.formatted_body === "string" ? content.formatted_body : undefined;
    // Built from the object's own text so that "detect" finds its mentions.
    const built = buildMessageContent(html ?? body, { format: html === undefined ? "plain" : "raw-html", replyTo, thread, mentions, ownUserId: defaults.ownUserId });
    if (built["m.relates_to"] !== undefined && out["m.relates_to"] === undefined) out["m.relates_to"] = built["m.relates_to"];
    if (out["m.mentions"] === undefined) out["m.mentions"] = built["m.mentions"];
  }
  if (override !== undefined) out = mergeContent(out, override);
  return out;
}

function withUser(option: MentionsOption | undefined, userId: string): MentionsOption {
  if (option === undefined || option === "detect") return { detect: true, userIds: [userId] };
  return { ...option, userIds: [...(option.userIds ?? []), userId] };
}

/**
 * The {@link MessageOptions} of an answer to `event` (see {@link ReplyOptions}).
 *
 * @throws RangeError when asked to start a thread from an event that has a
 *   relation itself (the threading module forbids it; servers answer 400).
 */
export function replyMessageOptions(
  event: Pick<ClientEvent, "event_id" | "sender" | "content">,
  options: ReplyOptions,
): MessageOptions {
  const { thread, mentionSender, ...rest } = options;
  const root = threadRootOf(event);
  if (thread === true) {
    const rel = relationType(event);
    if (root === undefined && rel !== undefined) {
      throw new RangeError(`cannot start a thread from ${event.event_id}: it has a relation (${rel}) itself`);
    }
    // In a thread the answer is the newest message: its fallback points at the
    // event being answered, which is what an unthreaded reader should see.
    return {
      ...rest,
      thread: { rootId: root ?? event.event_id, latestEventId: event.event_id },
      mentions: mentionSender === false ? rest.mentions : withUser(rest.mentions, event.sender),
    };
  }
  return {
    ...rest,
    replyTo: {
      eventId: event.event_id,
      sender: event.sender,
      mentionSender: mentionSender !== false,
      ...(thread === false || root === undefined ? {} : { threadRootId: root }),
    },
  };
}
