/**
 * The command router: one `message` listener that recognises invocations and runs them through
 * disabled state, checks, argument parsing, cooldown and the handler, then reports the outcome
 * as exactly one of `commandComplete`, `commandError` or `commandCancelled`.
 *
 * @module
 */
import type { MessageEvent } from "../api/events.js";
import { neutralizeMentions } from "../content/mentions.js";
import { replyTargetFromEvent, type ReplyTo } from "../content/message.js";
import { SendSequence } from "../delivery/txn.js";
import type { Room } from "../sync/room.js";
import { runChecks, type CheckLike } from "./checks.js";
import { CommandContext, type Invocation } from "./context.js";
import { CheckFailure, CommandDisabledError, CommandError, CommandOnCooldown } from "./errors.js";
import { helpCommand } from "./help.js";
import type { CommandBotHost } from "./host.js";
import { defaultMessages, errorMessage, resolveMessages, type FrameworkMessages } from "./messages.js";
import { ModuleHost } from "./module.js";
import { parseStructuredArguments, readStructuredInvocation, shownName, type StructuredInvocation } from "./msc4391/invocation.js";
import { CommandPublisher } from "./msc4391/publisher.js";
import { parseArguments } from "./parse.js";
import { matchPrefix, splitCommandName, stripReplyFallback, stripReplyFallbackHtml, type CommandPrefix } from "./prefix.js";
import { CommandRegistry } from "./registry.js";
import { isRecord } from "../util/record.js";

export type { CommandPrefix } from "./prefix.js";

/** Router settings, read from the bot's options. */
export interface RouterOptions {
  /** Default `"!"`. The bot's mention always works as well. */
  readonly commandPrefix?: CommandPrefix;
  /** Match prefix and command names regardless of case (default true). Arguments keep their case. */
  readonly caseInsensitiveCommands?: boolean;
  /** Run a command again when its message is edited (default false). */
  readonly commandsOnEdit?: boolean;
  /** Ignore messages the bot sent itself (default true). */
  readonly ignoreSelf?: boolean;
  /** Register the built-in `help` command (default true). */
  readonly helpCommand?: boolean;
  /** The framework's own words, replacing the English defaults entry by entry. */
  readonly messages?: Partial<FrameworkMessages>;
  /**
   * MSC4391: publish command descriptions into rooms and accept structured invocations
   * (default false). See `docs/guides/commands.md`.
   */
  readonly publishCommands?: boolean;
}

/** What a command-capable message reduces to before prefix matching. */
interface CommandText {
  /** The content the command is in (for an edit: `m.new_content`). */
  content: Record<string, unknown>;
  body: string;
  html: string | undefined;
  replyTo: ReplyTo;
}

const HTML_FORMAT = "org.matrix.custom.html";

/**
 * The text a command could be in, or `null` when the message can't be a command, or a string
 * saying why the event is malformed.
 */
function commandText(event: MessageEvent, onEdit: boolean): CommandText | null | string {
  const content: Record<string, unknown> = event.content;
  const rel = content["m.relates_to"];
  if (rel !== undefined && !isRecord(rel)) return "m.relates_to is not an object";
  let source = content;
  let replyTo: ReplyTo;
  if (rel?.rel_type === "m.replace") {
    if (!onEdit) return null;
    const replacement = content["m.new_content"];
    if (!isRecord(replacement) || typeof rel.event_id !== "string") return "edit without m.new_content or target";
    source = replacement;
    // Answers go to the original: the edit's own relation is m.replace, which can't be replied to.
    replyTo = { eventId: rel.event_id, sender: event.sender };
  } else {
    replyTo = replyTargetFromEvent(event);
  }
  const { body, msgtype, formatted_body: formatted } = source;
  if (typeof body !== "string" || typeof msgtype !== "string") return "body or msgtype is not a string";
  if (formatted !== undefined && typeof formatted !== "string") return "formatted_body is not a string";
  // Only m.text: bots answer with m.notice precisely so that other bots never act on it.
  if (msgtype !== "m.text") return null;
  const inReply = source === content && isRecord(rel?.["m.in_reply_to"]) && rel?.is_falling_back !== true;
  return {
    content: source,
    body: inReply ? stripReplyFallback(body) : body,
    html: typeof formatted === "string" && source.format === HTML_FORMAT ? stripReplyFallbackHtml(formatted) : undefined,
    replyTo,
  };
}

/**
 * The reply sent for an error when nobody listens to `commandError`/`commandCancelled`, in the
 * default English words (a table of other words: `errorMessage(error, resolveMessages(overrides))`).
 */
export function defaultErrorMessage(error: unknown): string {
  return errorMessage(error, defaultMessages);
}

/**
 * Routes messages to commands. The bot owns one; reach it through `bot.command(...)`,
 * `bot.commands`, `bot.addCheck(...)` and the module methods.
 */
export class CommandRouter {
  readonly bot: CommandBotHost;
  readonly registry: CommandRegistry;
  readonly modules: ModuleHost;
  readonly #globalChecks = new Set<CheckLike>();
  readonly #prefix: CommandPrefix;
  readonly #caseInsensitive: boolean;
  readonly #onEdit: boolean;
  readonly #ignoreSelf: boolean;
  /** The framework's own words (defaults plus the `messages` option). */
  readonly messages: FrameworkMessages;
  /** Publishes command descriptions (MSC4391) when the `publishCommands` option is on. */
  readonly publisher: CommandPublisher | undefined;

  constructor(bot: CommandBotHost, options: RouterOptions = {}) {
    this.bot = bot;
    this.messages = resolveMessages(options.messages);
    this.#prefix = options.commandPrefix ?? "!";
    this.#caseInsensitive = options.caseInsensitiveCommands ?? true;
    this.#onEdit = options.commandsOnEdit ?? false;
    this.#ignoreSelf = options.ignoreSelf ?? true;
    this.registry = new CommandRegistry({ caseInsensitive: this.#caseInsensitive });
    this.modules = new ModuleHost(bot, this.registry);
    if (options.helpCommand ?? true) this.registry.add(helpCommand(this));
    this.publisher = options.publishCommands === true ? new CommandPublisher(bot, this.registry) : undefined;
    bot.on("message", (room, event) => this.handle(room, event));
  }

  /** The configured prefix(es). */
  get prefix(): CommandPrefix {
    return this.#prefix;
  }

  /** Checks run before every command, in insertion order. */
  get globalChecks(): readonly CheckLike[] {
    return [...this.#globalChecks];
  }

  /** Adds a check run before every command; returns a function that removes it. */
  addCheck(check: CheckLike): () => void {
    this.#globalChecks.add(check);
    return () => void this.#globalChecks.delete(check);
  }

  /**
   * Handles one message: does nothing unless it invokes a registered command. Never throws:
   * malformed events are skipped with a debug log, command failures go to the events.
   *
   * Not an async function: a message that is no command (most traffic, the bot's own echoes
   * included) returns undefined without a promise, nor the emitter's wrapper of one.
   */
  handle(room: Room, event: MessageEvent): Promise<void> | undefined {
    try {
      return this.#route(room, event);
    } catch (error) {
      // As an async function's would, a synchronous throw still ends in a rejected promise.
      return Promise.reject(error);
    }
  }

  #route(room: Room, event: MessageEvent): Promise<void> | undefined {
    if (this.#ignoreSelf && event.sender === this.bot.userId) return;
    const text = commandText(event, this.#onEdit);
    if (text === null) return;
    if (typeof text === "string") {
      this.bot.log.debug({ roomId: room.roomId, eventId: event.event_id, reason: text }, "skipping malformed message");
      return;
    }
    if (this.publisher !== undefined) {
      const structured = readStructuredInvocation(text.content, this.bot.userId);
      if (structured.kind === "elsewhere") return;
      if (structured.kind !== "none") return this.#handleStructured(room, event, text, structured);
    }
    const match = matchPrefix(text.body, this.#prefix, {
      botUserId: this.bot.userId,
      // Looked up only for a message that starts with a pill to the bot.
      botDisplayName: () => room.member(this.bot.userId)?.displayName,
      formattedBody: text.html,
      caseInsensitive: this.#caseInsensitive,
    });
    const split = match === null ? null : splitCommandName(match.rest);
    if (match === null || split === null) return;
    const command = this.registry.get(split.name);
    if (command === undefined) {
      this.bot.log.debug({ roomId: room.roomId, eventId: event.event_id, name: split.name }, "unknown command");
      return;
    }
    const invocation: Invocation = {
      prefix: match.prefix,
      mention: match.mention,
      invokedWith: split.name,
      argumentText: split.args,
      formattedBody: text.html,
      replyTo: text.replyTo,
    };
    return this.run(new CommandContext(this.bot, room, event, command, invocation));
  }

  /**
   * A structured invocation addressed to the bot: it runs through {@link CommandRouter.run} like
   * text does. Being addressed by mention, it is answered even when unusable or unknown.
   */
  async #handleStructured(room: Room, event: MessageEvent, text: CommandText, structured: Exclude<StructuredInvocation, { kind: "none" | "elsewhere" }>): Promise<void> {
    const log = { roomId: room.roomId, eventId: event.event_id };
    if (structured.kind === "malformed") {
      this.bot.log.debug({ ...log, reason: structured.reason }, "malformed structured invocation");
      return this.#answerEvent(room, event, this.messages.invalidInvocation({ reason: structured.reason }));
    }
    const command = this.registry.get(structured.name);
    if (command === undefined) {
      this.bot.log.debug({ ...log, name: shownName(structured.name) }, "unknown command (structured)");
      return this.#answerEvent(room, event, this.messages.unknownCommand({ name: shownName(structured.name) }));
    }
    // Usage in replies shows the text form a person could type instead.
    const p = this.#prefix;
    const shown = typeof p === "string" ? p : p instanceof RegExp ? undefined : p.find((s) => s !== "");
    const invocation: Invocation = {
      prefix: shown === undefined || shown === "" ? `${this.bot.userId}: ` : shown,
      mention: shown === undefined || shown === "",
      invokedWith: structured.name,
      argumentText: "",
      formattedBody: undefined,
      replyTo: text.replyTo,
      structuredArguments: structured.arguments,
    };
    await this.run(new CommandContext(this.bot, room, event, command, invocation));
  }

  /** Runs an invocation through the pipeline. Exactly one outcome event follows `command`. */
  async run(ctx: CommandContext): Promise<void> {
    const { bot } = this;
    const command = ctx.command;
    // Events nobody listens to and an empty list of checks are skipped, not awaited: each await
    // is a promise on every command.
    if (bot.listenerCount("command") > 0) await bot.emit("command", ctx);
    try {
      if (command.disabled) throw new CommandDisabledError(command.name);
      if (this.#globalChecks.size > 0 || command.checks.length > 0) await runChecks(ctx, [...this.#globalChecks, ...command.checks]);
    } catch (error) {
      if (error instanceof CheckFailure || error instanceof CommandDisabledError) return this.#cancel(ctx, error);
      return this.#fail(ctx, error);
    }
    let result: unknown;
    try {
      // Parse before taking a cooldown use: a typo shouldn't cost the sender their turn.
      const structured = ctx.structuredArguments;
      // A command without parameters invoked without arguments (`!ping`) has nothing to parse:
      // the parser would answer `{}` after building the parse context, the usage line and three promises.
      const args = structured === undefined && command.specs.length === 0 && ctx.argumentText === ""
        ? {}
        : structured === undefined
        ? await parseArguments({ specs: command.specs }, ctx.argumentText, ctx.parseContext, { usage: ctx.usage })
        : await parseStructuredArguments(command.specs, structured, ctx.parseContext, { usage: ctx.usage });
      const cooldown = command.cooldown;
      const wait = cooldown === undefined ? 0 : cooldown.take(cooldown.keyOf({ roomId: ctx.room.roomId, sender: ctx.sender }));
      if (wait > 0) throw new CommandOnCooldown(wait);
      result = await command.invoke(ctx, args);
    } catch (error) {
      return this.#fail(ctx, error);
    }
    // Told, not guessed: a finished command counts as handled for the automatic read receipts.
    bot.messaging.noteHandled(ctx.room.roomId, ctx.message.event_id);
    if (bot.listenerCount("commandComplete") > 0) await bot.emit("commandComplete", ctx, result);
  }

  async #cancel(ctx: CommandContext, reason: CheckFailure | CommandDisabledError): Promise<void> {
    this.bot.log.debug({ command: ctx.command.name, sender: ctx.sender, reason: reason.message }, "command cancelled");
    if (this.bot.listenerCount("commandCancelled") > 0) await this.bot.emit("commandCancelled", ctx, reason);
    else await this.#answer(ctx, errorMessage(reason, this.messages, ctx.usage));
  }

  async #fail(ctx: CommandContext, error: unknown): Promise<void> {
    if (error instanceof CommandError) {
      this.bot.log.debug({ command: ctx.command.name, sender: ctx.sender, error: error.message }, "command failed");
    } else {
      // A bug in a handler, parser or check: logged with its stack whoever else listens.
      this.bot.reportError(error, { source: "command", room: ctx.room, event: ctx.message });
    }
    if (this.bot.listenerCount("commandError") > 0) await this.bot.emit("commandError", ctx, error);
    else await this.#answer(ctx, errorMessage(error, this.messages, ctx.usage));
  }

  /** Answers an event that invoked no command; a failure to send is reported, never thrown. */
  async #answerEvent(room: Room, event: MessageEvent, text: string): Promise<void> {
    try {
      // Exactly once, as answers through a context are: the transaction id comes from the event.
      await new SendSequence(event.event_id).run(() => this.bot.messaging.reply(event, neutralizeMentions(text), { format: "plain" }));
    } catch (error) {
      this.bot.reportError(error, { source: "commandReply", room, event });
    }
  }

  /** Sends a default answer; a failure to send is reported, never thrown. */
  async #answer(ctx: CommandContext, text: string): Promise<void> {
    try {
      // Plain and neutralised: messages quote user input, which must not render or ping.
      await ctx.respond(neutralizeMentions(text), { format: "plain" });
    } catch (error) {
      this.bot.reportError(error, { source: "commandReply", room: ctx.room, event: ctx.message });
    }
  }
}
