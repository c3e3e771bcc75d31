/**
 * The context a command handler receives: who invoked what, where, how, and a way to answer.
 *
 * @module
 */
import type { MessageContent, MessageEvent } from "../api/events.js";
import type { MessageOptions, ReplyTo } from "../content/message.js";
import type { Room } from "../sync/room.js";
import { isDirectRoom } from "./direct.js";
import type { CommandBotHost } from "./host.js";
import type { KvEntry } from "../kv/kv.js";
import { userPills } from "./matrix.js";
import type { ParseContext } from "./parsers.js";
import { CommandResponse, type OutgoingContent } from "./response.js";
import { splitWithOffsets } from "./split.js";
import { anySignal } from "../util/async.js";

/** Default `aliasLookupTimeoutMs`: an alias lookup is one request, so 10 s is plenty. */
export const DEFAULT_ALIAS_LOOKUP_TIMEOUT_MS = 10_000;

/** The signal of a context created outside a sync handler (a test, a manual `router.run`): never aborts. */
const NEVER = new AbortController().signal;
import { attachmentContent, isAttachmentMessage, type AttachmentMessage } from "../attachments/index.js";
import { SendSequence } from "../delivery/txn.js";
import { runOnce } from "../delivery/once.js";
import { currentHandler, type RunningHandler } from "../delivery/context.js";

/**
 * The command a context runs: the registered `Command`. Declared open here and made `Command` in
 * `command.ts` (declaration merging): a command's handler and checks take a context, and a
 * context names its command, so the two files would otherwise import each other.
 */
export interface InvokedCommand {
  /** Usage of the arguments, without prefix and name (`<a> <b>`); `""` when there are none. */
  readonly usage: string;
}

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
  /** The arguments object of a structured (MSC4391) invocation; absent for the text form. */
  readonly structuredArguments?: Readonly<Record<string, unknown>>;
}

/**
 * Everything about one command invocation.
 *
 * @example
 * bot.command("where", (ctx) => ctx.respond(`You are in ${ctx.room.name ?? ctx.room.roomId}, ${ctx.latency} ms ago.`));
 */
export class CommandContext {
  readonly bot: CommandBotHost;
  readonly room: Room;
  /** The invoking event (for a re-run edit: the edit event). */
  readonly message: MessageEvent;
  readonly command: InvokedCommand;
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
  /**
   * The arguments object when a client sent the command in the structured form (MSC4391,
   * `publishCommands`); `argumentText` is `""` then. Undefined for the text form.
   */
  readonly structuredArguments: Readonly<Record<string, unknown>> | undefined;
  /**
   * Aborts when the handler overruns its deadline (`handlerTimeoutMs`) or the bot stops.
   * Pass it to work that can block; when it aborts, give up.
   *
   * @example
   * const page = await fetch(url, { signal: ctx.signal });
   */
  get signal(): AbortSignal {
    // Asked for only when used: most commands never do, and a handler's controller is made on demand.
    return this.#handler?.signal ?? NEVER;
  }
  /** The handler this context was made in (its signal is read from it when asked for). */
  readonly #handler: RunningHandler | undefined;
  #args: readonly string[] | undefined;
  /** Numbers this context's sends, so a replayed event reuses its transaction ids. */
  readonly #sends: SendSequence;

  constructor(bot: CommandBotHost, room: Room, message: MessageEvent, command: InvokedCommand, invocation: Invocation) {
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
    this.structuredArguments = invocation.structuredArguments;
    this.#sends = new SendSequence(message.event_id);
    this.#handler = currentHandler();
  }

  /**
   * The invoking event's id: the same when a crash makes the bot handle the event again, so it
   * is the key to make a handler's own side effects idempotent (see {@link CommandContext.once}).
   */
  get eventId(): string {
    return this.message.event_id;
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
    // Read when used: the handler's controller is made only for a parser that asks for it.
    const signal = (): AbortSignal => this.signal;
    const timeoutMs = bot.options.aliasLookupTimeoutMs ?? DEFAULT_ALIAS_LOOKUP_TIMEOUT_MS;
    return {
      ...(this.formattedBody === undefined ? {} : { formattedBody: this.formattedBody }),
      // Bounded: a stuck directory server must not hold the command (and its room) for minutes.
      resolveRoomAlias: async (alias) =>
        (await bot.api.directory.resolveAlias(alias, { signal: anySignal(signal(), AbortSignal.timeout(timeoutMs)) })).room_id,
      get signal() {
        return signal();
      },
      botUserId: bot.userId,
      roomId: this.room.roomId,
      sender: this.sender,
    };
  }

  /**
   * Answers the command: a reply to the invoking message, inside its thread if it was in one.
   * Built by the one reply builder `bot.reply` and `bot.sendMessage` use: text is markdown by
   * default (see `MessageOptions.format`) and mentions the sender, as a reply does; a content
   * object is sent as given, plus the reply relation and `m.mentions` if it has none.
   * `{ file, caption }` uploads and sends an attachment (see `src/attachments/`).
   *
   * Exactly once: the transaction id comes from the invoking event and this call's place among
   * the context's sends (1st, 2nd…), so when a crash makes the bot handle the event again, the
   * homeserver returns the first send's event id instead of posting a second answer.
   *
   * @example
   * const msg = await ctx.respond("Counting…");
   * await msg.edit("Counted: 3");
   * await ctx.respond({ file: Attachment.fromPath("chart.png"), caption: "today" });
   */
  respond(content: string | OutgoingContent | AttachmentMessage, options: MessageOptions = {}): Promise<CommandResponse> {
    return this.#sends.run(async () => {
      const roomId = this.room.roomId;
      if (isAttachmentMessage(content)) {
        const body = (await attachmentContent(this.bot, roomId, content.file, { replyTo: this.replyTo, ...options, caption: content.caption })) as Record<string, unknown>;
        return new CommandResponse(this.bot, roomId, await this.bot.sendEvent(roomId, "m.room.message", body), body, this.#sends);
      }
      const sent = await this.bot.messaging.send(roomId, content, { replyTo: this.replyTo, ...options });
      return new CommandResponse(this.bot, roomId, sent.eventId, sent.content, this.#sends);
    });
  }

  /**
   * Reacts to the invoking message (for a re-run edit: the original) with `key`, usually an
   * emoji; returns the reaction's event id. Exactly once, like {@link CommandContext.respond}.
   *
   * @example
   * await ctx.react("👍");
   */
  react(key: string): Promise<string> {
    return this.#sends.run(() => this.bot.react(this.room.roomId, this.replyTo.eventId, key));
  }

  /**
   * Sends a message somewhere else than a reply: to another room, or to a user id (`@…`)
   * through their direct room, as `bot.sendMessage` does. Exactly once, like
   * {@link CommandContext.respond} (creating a missing direct room is not: see the guide).
   *
   * @example
   * await ctx.send(ctx.sender, "Your report is ready.");
   */
  send(target: string, content: string | MessageContent | AttachmentMessage, options: MessageOptions = {}): Promise<string> {
    return this.#sends.run(() => this.bot.sendMessage(target, content, options));
  }

  /**
   * Runs a side effect outside Matrix at most once for this invoking event, even when a crash
   * makes the bot handle the event again: the first run's result (JSON, or nothing) is stored
   * and a replay gets it back without calling `fn`. Give each effect of a handler its own key.
   *
   * @throws `OnceInterruptedError` on a replay whose first run never finished (it may or may not
   *   have happened: check the outside system), `OnceResultError` for a result that is not JSON.
   * @example
   * const orderId = await ctx.once("create-order", () => shop.createOrder(ctx.sender, item));
   * await ctx.respond(`Order ${orderId} placed.`);
   */
  once<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
    return runOnce(this.bot.store, this.eventId, key, fn);
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
