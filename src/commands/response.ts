/**
 * A message the bot sent in answer to a command, with the follow-ups people usually want:
 * edit it, delete it, reply to it.
 *
 * @module
 */
import type { MessageContent } from "../api/events.js";
import type { EditOptions, MessageOptions, ReplyTo } from "../content/message.js";
import type { Mentions } from "../content/types.js";
import type { SendSequence } from "../delivery/txn.js";
import { isRecord } from "../util/record.js";
import type { CommandBotHost } from "./host.js";

/** Outgoing message content: built by the content layer or written by hand. */
export type OutgoingContent = MessageContent | Record<string, unknown>;

/**
 * A message the bot sent; returned by `ctx.respond` and `response.reply`.
 *
 * @example
 * const msg = await ctx.respond("Working on it…");
 * await msg.edit("Done!");
 */
export class CommandResponse {
  readonly bot: CommandBotHost;
  readonly roomId: string;
  /** The event ID of the message as first sent (edits target it, as the spec requires). */
  readonly eventId: string;
  /** The content as first sent. */
  readonly content: Readonly<Record<string, unknown>>;
  readonly #threadRootId: string | undefined;
  #mentions: Mentions;
  /** The sends of the command context this came from: follow-ups are exactly once too. */
  readonly #sends: SendSequence | undefined;

  /** @param sends - internal: the sending context's sequence (see `src/delivery/`). */
  constructor(bot: CommandBotHost, roomId: string, eventId: string, content: Record<string, unknown>, sends?: SendSequence) {
    this.bot = bot;
    this.#sends = sends;
    this.roomId = roomId;
    this.eventId = eventId;
    this.content = content;
    this.#mentions = mentionsOf(content);
    const rel = content["m.relates_to"];
    const root = isRecord(rel) && rel.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
    this.#threadRootId = root;
  }

  /**
   * Replaces the message's text (an `m.replace` edit). Users mentioned by the current version are
   * kept in the new one's `m.mentions` and not notified again.
   */
  edit(text: string, options: EditOptions = {}): Promise<this> {
    return this.#run(() => this.#edit(text, options));
  }

  async #edit(text: string, options: EditOptions): Promise<this> {
    // The original's msgtype, and the users it mentions stay mentioned (not notified again).
    const current = { msgtype: this.content.msgtype, "m.mentions": this.#mentions } as Partial<MessageContent>;
    const sent = await this.bot.messaging.editKnown(this.roomId, this.eventId, current, text, {
      mentions: { detect: true, userIds: this.#mentions.user_ids ?? [] },
      ...options,
    });
    this.#mentions = mentionsOf(isRecord(sent.content["m.new_content"]) ? sent.content["m.new_content"] : {});
    return this;
  }

  /** Redacts the message (in the room's send queue, like every send). */
  async delete(reason?: string): Promise<void> {
    await this.#run(() => this.bot.redact(this.roomId, this.eventId, reason));
  }

  /** Replies to this message (in its thread if it is in one). */
  reply(content: string | OutgoingContent, options: MessageOptions = {}): Promise<CommandResponse> {
    return this.#run(() => this.#reply(content, options));
  }

  async #reply(content: string | OutgoingContent, options: MessageOptions): Promise<CommandResponse> {
    const replyTo: ReplyTo = {
      eventId: this.eventId,
      sender: this.bot.userId,
      ...(this.#threadRootId === undefined ? {} : { threadRootId: this.#threadRootId }),
    };
    const sent = await this.bot.messaging.send(this.roomId, content, { replyTo, ...options });
    return new CommandResponse(this.bot, this.roomId, sent.eventId, sent.content, this.#sends);
  }

  /** Runs a send as the next one of the originating context (exactly once), if there is one. */
  #run<T>(work: () => Promise<T>): Promise<T> {
    return this.#sends === undefined ? work() : this.#sends.run(work);
  }
}

function mentionsOf(content: Record<string, unknown>): Mentions {
  const m = content["m.mentions"];
  if (!isRecord(m)) return {};
  const ids = Array.isArray(m.user_ids) ? m.user_ids.filter((id): id is string => typeof id === "string") : undefined;
  return { ...(ids === undefined ? {} : { user_ids: ids }), ...(m.room === true ? { room: true } : {}) };
}
