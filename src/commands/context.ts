/**
 * The context a command handler receives: who invoked what, where, how, and a way to answer.
 *
 * @module
 */
import type { MessageEvent } from "../api/events.js";
import type { NioBot } from "../bot/bot.js";
import type { MessageOptions, ReplyTo } from "../content/message.js";
import type { Room } from "../sync/room.js";
import { isDirectRoom } from "./checks.js";
import type { Command } from "./command.js";
import type { KvEntry } from "../kv/kv.js";
import { userPills } from "./matrix.js";
import type { ParseContext } from "./parsers.js";
import { CommandResponse, replyContent, withReplyRelation, type OutgoingContent } from "./response.js";
import { splitWithOffsets } from "./split.js";
import { attachmentContent, isAttachmentMessage, type AttachmentMessage } from "../attachments/index.js";

/** How a message invoked a command; built by the router. */
export interface Invocation {
  /** The prefix as written (for a mention: the mention plus the `: ` after it). */
  readonly prefix: string;
  /** Whether the prefix was the bot's mention. */
  readonly mention: boolean;
  /** The command name as written (may be an alias, in any case). */
  readonly invokedWith: string;
  /** The raw text after the command name. */
  readonly argumentText: string;
  /** The `formatted_body` the command came from, reply fallback stripped. */
  readonly formattedBody: string | undefined;
  /** What answers reply to: the invoking event (for an edit: the original) and its thread. */
  readonly replyTo: ReplyTo;
}

/**
 * Everything about one command invocation.
 *
 * @example
 * bot.command("where", (ctx) => ctx.respond(`You are in ${ctx.room.name ?? ctx.room.roomId}, ${ctx.latency} ms ago.`));
 */
export class CommandContext {
  readonly bot: NioBot;
  readonly room: Room;
  /** The invoking event (for a re-run edit: the edit event). */
  readonly message: MessageEvent;
  readonly command: Command;
  /** The prefix as written, e.g. `"!"` or `"@bot:example.org: "`. */
  readonly invokingPrefix: string;
  /** Whether the bot was addressed by mention rather than a prefix. */
  readonly viaMention: boolean;
  /** The command name or alias as written. */
  readonly invokedWith: string;
  /** The raw text after the command name, untouched. */
  readonly argumentText: string;
  /** The `formatted_body` (reply fallback stripped), if the message had one. */
  readonly formattedBody: string | undefined;
  /** What {@link CommandContext.respond} replies to. */
  readonly replyTo: ReplyTo;
  #args: readonly string[] | undefined;

  constructor(bot: NioBot, room: Room, message: MessageEvent, command: Command, invocation: Invocation) {
    this.bot = bot;
    this.room = room;
    this.message = message;
    this.command = command;
    this.invokingPrefix = invocation.prefix;
    this.viaMention = invocation.mention;
    this.invokedWith = invocation.invokedWith;
    this.argumentText = invocation.argumentText;
    this.formattedBody = invocation.formattedBody;
    this.replyTo = invocation.replyTo;
  }

  /** Who sent the command. */
  get sender(): string {
    return this.message.sender;
  }

  /**
   * The raw arguments as split by the splitter (quotes removed, mention pills whole). With an
   * unterminated quote, falls back to splitting on whitespace.
   */
  get args(): readonly string[] {
    if (this.#args === undefined) {
      try {
        const phrases = userPills(this.formattedBody).map((p) => p.text);
        this.#args = splitWithOffsets(this.argumentText, { phrases }).map((t) => t.value);
      } catch {
        this.#args = this.argumentText.split(/\s+/).filter((a) => a !== "");
      }
    }
    return this.#args;
  }

  /** Milliseconds between the message being sent (by its server's clock) and now. */
  get latency(): number {
    return this.bot.latency(this.message);
  }

  /** How to invoke the command as the sender did: prefix, name, argument usage. */
  get usage(): string {
    const usage = this.command.usage;
    return `${this.invokingPrefix}${this.invokedWith}${usage === "" ? "" : ` ${usage}`}`;
  }

  /** What argument parsers may know about this message. */
  get parseContext(): ParseContext {
    const bot = this.bot;
    return {
      ...(this.formattedBody === undefined ? {} : { formattedBody: this.formattedBody }),
      resolveRoomAlias: async (alias) => (await bot.api.directory.resolveAlias(alias)).room_id,
      botUserId: bot.userId,
      roomId: this.room.roomId,
      sender: this.sender,
    };
  }

  /**
   * Answers the command: a reply to the invoking message, inside its thread if it was in one.
   * Text is markdown by default (see `MessageOptions.format`) and mentions the sender, as a
   * reply does; a content object is sent as given, plus the reply relation if it has none.
   * `{ file, caption }` uploads and sends an attachment (see `src/attachments/`).
   *
   * @example
   * const msg = await ctx.respond("Counting…");
   * await msg.edit("Counted: 3");
   * await ctx.respond({ file: Attachment.fromPath("chart.png"), caption: "today" });
   */
  async respond(content: string | OutgoingContent | AttachmentMessage, options: MessageOptions = {}): Promise<CommandResponse> {
    const body = isAttachmentMessage(content)
      ? (await attachmentContent(this.bot, this.room.roomId, content.file, { replyTo: this.replyTo, ...options, caption: content.caption })) as Record<string, unknown>
      : typeof content === "string"
      ? replyContent(this.bot, content, this.replyTo, options)
      : withReplyRelation(content, this.replyTo);
    const eventId = await this.bot.sendEvent(this.room.roomId, "m.room.message", body);
    return new CommandResponse(this.bot, this.room.roomId, eventId, body);
  }

  /**
   * The sender's value in a namespace of bot data: `bot.kv<T>(namespace).entry(ctx.sender)`.
   *
   * @example
   * const visits = await ctx.userData<number>("visits").update((n = 0) => n + 1);
   */
  userData<T>(namespace: string): KvEntry<T> {
    return this.bot.kv<T>(namespace).entry(this.sender);
  }

  /**
   * This room's value in a namespace of bot data: `bot.kv<T>(namespace).entry(ctx.room.roomId)`.
   *
   * @example
   * await ctx.roomData<{ topic: string }>("settings").set({ topic: "release" });
   */
  roomData<T>(namespace: string): KvEntry<T> {
    return this.bot.kv<T>(namespace).entry(this.room.roomId);
  }

  /**
   * Whether the room is a direct conversation with the bot: `bot.isDm(roomId)` when the DM
   * layer provides it, otherwise the membership check of {@link isDirectRoom}.
   */
  isDm(): Promise<boolean> {
    return isDirectRoom(this.bot, this.room.roomId);
  }
}
