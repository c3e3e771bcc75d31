/**
 * The events the command layer emits; the bot's event map (`CoreBotEvents`) extends them.
 *
 * @module
 */
import type { CommandContext } from "./context.js";
import type { CheckFailure, CommandDisabledError } from "./errors.js";

/** Events of the command router: one `command`, then exactly one outcome. */
export interface CommandEvents {
  /**
   * A message invoked a registered command (before checks and parsing). Exactly one of
   * `commandComplete`, `commandError` or `commandCancelled` follows for the same context.
   */
  command: [ctx: CommandContext];
  /** The command's handler returned; `result` is what it returned. */
  commandComplete: [ctx: CommandContext, result: unknown];
  /**
   * Arguments were wrong (`CommandArgumentsError`, `CommandParserError`), the command was on
   * cooldown (`CommandOnCooldown`) or the handler threw. With a listener here the bot sends no
   * reply of its own; unexpected (non-`CommandError`) errors also reach `reportError`.
   */
  commandError: [ctx: CommandContext, error: unknown];
  /**
   * The command did not run: a check failed (`CheckFailure`) or it is disabled
   * (`CommandDisabledError`). With a listener here the bot sends no reply of its own.
   */
  commandCancelled: [ctx: CommandContext, reason: CheckFailure | CommandDisabledError];
}
