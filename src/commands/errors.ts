/**
 * Errors raised while matching, parsing and checking commands.
 *
 * Every class here is meant to be caught by the bot and shown to the sender: the `message`
 * is short, user-facing and needs no further context. Anything that is *not* a
 * {@link CommandError} escaping a command is a bug and should be reported as such
 * (for example "internal error") rather than echoed to the room.
 *
 * @module
 */

/** Longest excerpt of user input quoted back in a message, so a pasted essay isn't echoed. */
const MAX_QUOTED = 60;

/**
 * Quote user input for an error message, truncated so the reply stays short.
 *
 * @example
 * quoteInput("abc") // => '"abc"'
 */
export function quoteInput(raw: string): string {
  const cut = raw.length > MAX_QUOTED ? `${raw.slice(0, MAX_QUOTED - 1)}…` : raw;
  return JSON.stringify(cut);
}

/** Base class of every error a command invocation may raise for the sender to see. */
export class CommandError extends Error {
  override readonly name: string = "CommandError";
}

/** Why a {@link CommandArgumentsError} was raised. */
export type ArgumentsErrorReason = "missing" | "too-many" | "unknown";

/**
 * The invocation has the wrong number of arguments. Carries the command's `usage` so the
 * reply can show the sender how to call it.
 *
 * @example
 * throw CommandArgumentsError.missing("count", "<user> <count> [reason...]");
 * // message: 'Missing required argument "count". Usage: <user> <count> [reason...]'
 */
export class CommandArgumentsError extends CommandError {
  override readonly name: string = "CommandArgumentsError";
  readonly usage: string;
  readonly reason: ArgumentsErrorReason;
  /** The missing argument (`reason` `"missing"`), or the unknown one (`"unknown"`). */
  readonly argument: string | undefined;
  /** How many arguments the command takes at most, when `reason` is `"too-many"`. */
  readonly maximum: number | undefined;
  /** How many were given, when `reason` is `"too-many"`. */
  readonly received: number | undefined;

  constructor(
    message: string,
    init: { usage: string; reason: ArgumentsErrorReason; argument?: string; maximum?: number; received?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.usage = init.usage;
    this.reason = init.reason;
    this.argument = init.argument;
    this.maximum = init.maximum;
    this.received = init.received;
  }

  /** A required argument was not given. */
  static missing(argument: string, usage: string): CommandArgumentsError {
    return new CommandArgumentsError(`Missing required argument "${argument}". ${usageSuffix(usage)}`, {
      usage,
      reason: "missing",
      argument,
    });
  }

  /** A structured invocation (MSC4391) named an argument the command does not have. */
  static unknown(argument: string, usage: string): CommandArgumentsError {
    return new CommandArgumentsError(`Unknown argument "${argument}". ${usageSuffix(usage)}`, {
      usage,
      reason: "unknown",
      argument,
    });
  }

  /** More arguments were given than the command accepts. */
  static tooMany(maximum: number, received: number, usage: string): CommandArgumentsError {
    const expected = maximum === 0 ? "no arguments" : `at most ${maximum}`;
    return new CommandArgumentsError(
      `Too many arguments (expected ${expected}, got ${received}). ${usageSuffix(usage)}`,
      { usage, reason: "too-many", maximum, received },
    );
  }
}

function usageSuffix(usage: string): string {
  return usage === "" ? "This command takes no arguments." : `Usage: ${usage}`;
}

/** Fields of a {@link CommandParserError}. All optional: the splitter knows no argument name. */
export interface ParserErrorInit {
  /** Name of the argument being parsed; filled in by `parseArguments`. */
  argument?: string;
  /** What the parser wanted, as a noun phrase ("an integer"). */
  expected?: string;
  /** The raw text it got. */
  received?: string;
  /** Extra detail shown in parentheses ("could not resolve #a:b"). */
  detail?: string;
}

/**
 * Some input could not be understood: an unterminated quote, or an argument its parser
 * rejected.
 *
 * Parsers throw it *without* an argument name via {@link CommandParserError.invalid};
 * `parseArguments` re-labels it with {@link CommandParserError.forArgument}, giving
 * `Argument "count": expected an integer, got "abc"`.
 */
export class CommandParserError extends CommandError {
  override readonly name: string = "CommandParserError";
  readonly argument: string | undefined;
  readonly expected: string | undefined;
  readonly received: string | undefined;
  readonly detail: string | undefined;

  constructor(message: string, init: ParserErrorInit = {}, options?: ErrorOptions) {
    super(message, options);
    this.argument = init.argument;
    this.expected = init.expected;
    this.received = init.received;
    this.detail = init.detail;
  }

  /**
   * The error a parser throws for input it rejects.
   *
   * @example
   * throw CommandParserError.invalid("an integer", raw);
   */
  static invalid(expected: string, received: string, detail?: string, options?: ErrorOptions): CommandParserError {
    const init: ParserErrorInit = { expected, received };
    if (detail !== undefined) init.detail = detail;
    return new CommandParserError(formatParserMessage(init), init, options);
  }

  /** A copy naming the argument, so the sender learns which of several inputs was wrong. */
  forArgument(argument: string): CommandParserError {
    const init: ParserErrorInit = { ...this.init(), argument };
    const message = this.expected === undefined ? `Argument "${argument}": ${this.message}` : formatParserMessage(init);
    return new CommandParserError(message, init, { cause: this.cause ?? this });
  }

  private init(): ParserErrorInit {
    const init: ParserErrorInit = {};
    if (this.expected !== undefined) init.expected = this.expected;
    if (this.received !== undefined) init.received = this.received;
    if (this.detail !== undefined) init.detail = this.detail;
    return init;
  }
}

function formatParserMessage(init: ParserErrorInit): string {
  const got = init.received === undefined ? "" : `, got ${quoteInput(init.received)}`;
  const detail = init.detail === undefined ? "" : ` (${init.detail})`;
  const core = `expected ${init.expected ?? "a valid value"}${got}${detail}`;
  return init.argument === undefined
    ? core.charAt(0).toUpperCase() + core.slice(1)
    : `Argument "${init.argument}": ${core}`;
}

/**
 * A check guarding the command rejected the invocation. Subclass it for custom checks so the
 * bot can tell check failures from other errors.
 */
export class CheckFailure extends CommandError {
  override readonly name: string = "CheckFailure";
  /** Name of the failed check, for logs and for help output. */
  readonly check: string;
  /** The message given to the constructor, if any (otherwise the `messages` table words it). */
  readonly customMessage: string | undefined;

  constructor(check: string, message?: string, options?: ErrorOptions) {
    super(message ?? "You can't use this command here.", options);
    this.check = check;
    this.customMessage = message;
  }
}

/** The command is restricted to the bot's owner(s). Check name: `"owner"`. */
export class NotOwner extends CheckFailure {
  override readonly name: string = "NotOwner";
  constructor(message?: string) {
    super("owner", message);
    if (message === undefined) this.message = "Only the bot's owner can use this command.";
  }
}

/** The sender's power level in the room is too low. Check name: `"power-level"`. */
export class InsufficientPower extends CheckFailure {
  override readonly name: string = "InsufficientPower";
  readonly required: number;
  readonly actual: number;

  constructor(required: number, actual: number) {
    super("power-level", `You need power level ${required} to use this command (you have ${actual}).`);
    this.required = required;
    this.actual = actual;
  }
}

/**
 * A privileged check ran on a message from a device its owner has not
 * cross-signed (in an encrypted room). The check name is the privileged check's.
 */
export class UntrustedDevice extends CheckFailure {
  override readonly name: string = "UntrustedDevice";
  constructor(check: string) {
    super(check, "This command needs a verified session: sign in to a session your account has verified (cross-signed) and try again.");
  }
}

/** The command only works in a direct-message room. Check name: `"direct-room"`. */
export class NotADirectRoom extends CheckFailure {
  override readonly name: string = "NotADirectRoom";
  constructor(message?: string) {
    super("direct-room", message);
    if (message === undefined) this.message = "This command can only be used in a direct message with the bot.";
  }
}

/** The command exists but has been switched off. */
export class CommandDisabledError extends CommandError {
  override readonly name: string = "CommandDisabledError";
  readonly command: string;

  constructor(command: string) {
    super(`The command "${command}" is currently disabled.`);
    this.command = command;
  }
}

/** The sender (or room) used the command too recently. */
export class CommandOnCooldown extends CommandError {
  override readonly name: string = "CommandOnCooldown";
  /** Milliseconds until the command may be used again. */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number) {
    super(`This command is on cooldown. Try again in ${formatDuration(retryAfterMs)}.`);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Human-readable duration, rounded *up* to the second so "try again in 0s" never happens.
 *
 * @example
 * formatDuration(61_500) // => "1m 2s"
 */
export function formatDuration(ms: number): string {
  const total = Math.max(1, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const parts: string[] = [];
  if (hours > 0) parts.push(`${hours}h`);
  if (minutes > 0) parts.push(`${minutes}m`);
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join(" ");
}
