/**
 * The framework's own words: every text niobot sends by itself (error replies and the built-in
 * `help`), in one table that the `messages` option of `NioBot` overrides, entry by entry.
 *
 * @module
 */
import {
  CheckFailure,
  CommandArgumentsError,
  CommandDisabledError,
  CommandError,
  CommandOnCooldown,
  CommandParserError,
  formatDuration,
  InsufficientPower,
  NotADirectRoom,
  NotOwner,
  quoteInput,
} from "./errors.js";

/**
 * Every text the framework sends on its own. Each entry is a function of typed parameters that
 * returns plain text (sent with mentions neutralised; help escapes it for HTML).
 *
 * @example
 * const bot = new NioBot({ ..., messages: { cooldown: ({ duration }) => `Slow down! ${duration} to go.` } });
 */
export interface FrameworkMessages {
  /** A required argument was not given. `usageHint` is {@link FrameworkMessages.usageHint} of the usage. */
  missingArgument(p: { name: string; usage: string; usageHint: string }): string;
  /** More arguments than the command takes. `maximum` 0: it takes none. */
  tooManyArguments(p: { maximum: number; received: number; usage: string; usageHint: string }): string;
  /** A structured invocation (MSC4391) named an argument the command does not have. */
  unknownArgument(p: { name: string; usage: string; usageHint: string }): string;
  /**
   * A structured invocation (MSC4391) addressed to the bot named no command it has. (A text
   * message with an unknown command gets no answer: it may be meant for another bot.)
   * `name` is cut to 60 characters.
   */
  unknownCommand(p: { name: string }): string;
  /** A structured invocation (MSC4391) addressed to the bot could not be read; `reason` is English. */
  invalidInvocation(p: { reason: string }): string;
  /** "Usage: …", or that the command takes no arguments (`usage` is `""`). */
  usageHint(p: { usage: string }): string;
  /**
   * An argument was rejected by its parser, or the text could not be split (an unterminated
   * quote: `name` undefined). `expected` is the parser's noun phrase ("an integer"), `got` the
   * input quoted and cut to 60 characters, `message` the default English text.
   */
  argument(p: { name: string | undefined; expected: string | undefined; got: string | undefined; detail: string | undefined; usage: string; message: string }): string;
  /** A check failed. `message` is the text the check itself gave, if any. */
  checkFailed(p: { check: string; message: string | undefined }): string;
  /** The `isOwner` check failed. */
  notOwner(): string;
  /** The `hasPowerLevel` check failed. */
  insufficientPower(p: { required: number; actual: number }): string;
  /** The `isDirectMessage` check failed. */
  notDirectRoom(): string;
  /** The command is disabled. */
  disabled(p: { command: string }): string;
  /** The command is on cooldown; `duration` is `retryAfterMs` as "1m 2s". */
  cooldown(p: { retryAfterMs: number; duration: string }): string;
  /** A handler, parser or check threw something that is not a `CommandError`. */
  internalError(): string;
  /** The `help` command's own description (its first line is its summary). */
  helpDescription(): string;
  /** Heading of the command list. */
  helpHeader(): string;
  /** Line under the list; `usage` is e.g. `!help <command>`. */
  helpFooter(p: { usage: string }): string;
  /** `help x` for a command that does not exist. */
  helpUnknownCommand(p: { name: string }): string;
  /** Mark after a disabled command's usage, e.g. ` (disabled)`. */
  helpDisabled(): string;
  /** Label before a command's aliases. */
  helpAliases(): string;
  /** Label before a command's arguments. */
  helpArguments(): string;
  /** An argument's type as help shows it, e.g. `integer, optional`. */
  helpArgumentType(p: { type: string; required: boolean; variadic: boolean }): string;
}

/** The English defaults: the texts niobot has always sent. */
export const defaultMessages: Readonly<FrameworkMessages> = Object.freeze({
  missingArgument: ({ name, usageHint }) => `Missing required argument "${name}". ${usageHint}`,
  tooManyArguments: ({ maximum, received, usageHint }) =>
    `Too many arguments (expected ${maximum === 0 ? "no arguments" : `at most ${maximum}`}, got ${received}). ${usageHint}`,
  unknownArgument: ({ name, usageHint }) => `Unknown argument "${name}". ${usageHint}`,
  unknownCommand: ({ name }) => `No command named "${name}".`,
  invalidInvocation: ({ reason }) => `I could not read this command: ${reason}.`,
  usageHint: ({ usage }) => (usage === "" ? "This command takes no arguments." : `Usage: ${usage}`),
  argument: ({ message }) => message,
  checkFailed: ({ message }) => message ?? "You can't use this command here.",
  notOwner: () => "Only the bot's owner can use this command.",
  insufficientPower: ({ required, actual }) => `You need power level ${required} to use this command (you have ${actual}).`,
  notDirectRoom: () => "This command can only be used in a direct message with the bot.",
  disabled: ({ command }) => `The command "${command}" is currently disabled.`,
  cooldown: ({ duration }) => `This command is on cooldown. Try again in ${duration}.`,
  internalError: () => "Something went wrong while running this command (internal error).",
  helpDescription: () => "Lists the commands you can use, or explains one.\nGive a command name to see its description, aliases and arguments.",
  helpHeader: () => "Commands you can use:",
  helpFooter: ({ usage }) => `Use ${usage} for details.`,
  helpUnknownCommand: ({ name }) => `No command named "${name}".`,
  helpDisabled: () => " (disabled)",
  helpAliases: () => "Aliases:",
  helpArguments: () => "Arguments:",
  helpArgumentType: ({ type, required, variadic }) =>
    `${type}${variadic && required ? ", one or more" : ""}${required ? "" : variadic ? ", any number" : ", optional"}`,
} satisfies FrameworkMessages);

/** The defaults with `overrides` applied. */
export function resolveMessages(overrides: Partial<FrameworkMessages> = {}): FrameworkMessages {
  const out: FrameworkMessages = { ...defaultMessages };
  for (const [name, fn] of Object.entries(overrides)) if (typeof fn === "function") (out as unknown as Record<string, unknown>)[name] = fn;
  return out;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The reply for an error raised by a command invocation, in the words of `messages`. A
 * `CommandError` the author threw is shown as is; anything that is not a `CommandError` is a
 * bug and answered with {@link FrameworkMessages.internalError}.
 *
 * @param usage how to call the command (`ctx.usage`), for argument errors.
 */
export function errorMessage(error: unknown, messages: FrameworkMessages = defaultMessages, usage = ""): string {
  if (!(error instanceof CommandError)) return messages.internalError();
  if (error instanceof CommandArgumentsError) {
    const usageHint = messages.usageHint({ usage: error.usage });
    if (error.reason === "missing" && error.argument !== undefined) return messages.missingArgument({ name: error.argument, usage: error.usage, usageHint });
    if (error.reason === "unknown" && error.argument !== undefined) return messages.unknownArgument({ name: error.argument, usage: error.usage, usageHint });
    if (error.reason === "too-many" && error.maximum !== undefined && error.received !== undefined)
      return messages.tooManyArguments({ maximum: error.maximum, received: error.received, usage: error.usage, usageHint });
  } else if (error instanceof CommandParserError) {
    return messages.argument({
      name: error.argument,
      expected: error.expected,
      got: error.received === undefined ? undefined : quoteInput(error.received),
      detail: error.detail,
      usage,
      message: capitalize(error.message),
    });
  } else if (error instanceof InsufficientPower) {
    return messages.insufficientPower({ required: error.required, actual: error.actual });
  } else if (error instanceof CheckFailure) {
    if (error.customMessage === undefined && error instanceof NotOwner) return messages.notOwner();
    if (error.customMessage === undefined && error instanceof NotADirectRoom) return messages.notDirectRoom();
    return messages.checkFailed({ check: error.check, message: error.customMessage });
  } else if (error instanceof CommandDisabledError) {
    return messages.disabled({ command: error.command });
  } else if (error instanceof CommandOnCooldown) {
    return messages.cooldown({ retryAfterMs: error.retryAfterMs, duration: formatDuration(error.retryAfterMs) });
  }
  return capitalize(error.message);
}
