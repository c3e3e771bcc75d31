/**
 * Command definitions: the options a command is declared with, the typed handler, and the
 * runtime {@link Command} the registry holds.
 *
 * @module
 */
import { specsOf, usageOfSpecs, type ArgumentDeclaration, type ArgumentList } from "./arguments.js";
import type { CheckLike } from "./checks.js";
import type { CommandContext } from "./context.js";
import { CooldownBuckets, type CooldownOptions } from "./cooldown.js";
import type { ArgumentSpec, SignatureArgs, ValidateSignature } from "./signature.js";

/** The args object of a command that declares no arguments. */
export type NoArgs = Record<never, never>;

/**
 * The handler's args type for an `args` option: a signature string literal, an
 * {@link ArgumentList} (from `args(...)`/`signature(...)`), or nothing.
 */
export type ArgsFor<D> = D extends string ? SignatureArgs<D> : D extends ArgumentList<infer T> ? T : NoArgs;

/** What the `args` option accepts for `D`: a signature literal is validated at compile time. */
export type DeclarationFor<D> = D extends string ? ValidateSignature<D> : D;

/**
 * Runs the command. `args` is the parsed, typed arguments object; whatever the handler returns
 * is passed to the `commandComplete` event.
 */
export type CommandHandler<A> = (ctx: CommandContext, args: A) => unknown;

/** Options of a command, apart from its arguments. */
export interface CommandOptions {
  /** Other names that invoke it. */
  readonly aliases?: readonly string[];
  /** Help text; the first line is the summary shown by `help`, the rest by `help <command>`. */
  readonly description?: string;
  /** Usage shown in help and argument errors (without prefix and name); generated from `args` when absent. */
  readonly usage?: string;
  /** Left out of the help listing (still runs). */
  readonly hidden?: boolean;
  /** Refuses to run (`commandCancelled` with `CommandDisabledError`); can be flipped later via `Command.disabled`. */
  readonly disabled?: boolean;
  /** Must all pass, after the bot's global checks, for the command to run. */
  readonly checks?: readonly CheckLike[];
  /** Rate limit per user, room or globally. */
  readonly cooldown?: CooldownOptions;
}

/** {@link CommandOptions} plus the argument declaration `D`. */
export type CommandOptionsFor<D> = CommandOptions & {
  /**
   * The arguments: a signature string (`"<user:user> <count:int> [reason...]"`) or an
   * {@link ArgumentList}. Their parsed types reach the handler.
   */
  readonly args?: DeclarationFor<D>;
};

/** A command before registration: what {@link defineCommand} returns and modules list. */
export interface CommandDefinition<A = NoArgs> {
  readonly name: string;
  readonly options: CommandOptions & { readonly args?: ArgumentDeclaration };
  readonly handler: CommandHandler<A>;
}

/** A definition of any argument type (handlers are contravariant in their args). */
export type AnyCommandDefinition = CommandDefinition<never>;

/**
 * Declares a command without registering it, for modules or to register later with
 * `bot.commands.add(...)`. Same inference as `bot.command`.
 *
 * @example
 * const add = defineCommand("add", { args: "<a:int> <b:int>" }, (ctx, { a, b }) => ctx.respond(`${a + b}`));
 */
export function defineCommand(name: string, handler: CommandHandler<NoArgs>): CommandDefinition<NoArgs>;
export function defineCommand<const D extends ArgumentDeclaration | undefined = undefined>(
  name: string,
  options: CommandOptionsFor<D>,
  handler: CommandHandler<ArgsFor<D>>,
): CommandDefinition<ArgsFor<D>>;
export function defineCommand(
  name: string,
  optionsOrHandler: (CommandOptions & { args?: ArgumentDeclaration }) | CommandHandler<never>,
  maybeHandler?: CommandHandler<never>,
): AnyCommandDefinition {
  const options = typeof optionsOrHandler === "function" ? {} : optionsOrHandler;
  const handler = typeof optionsOrHandler === "function" ? optionsOrHandler : maybeHandler;
  if (typeof handler !== "function") throw new TypeError(`command "${name}": a handler function is required`);
  return { name, options, handler };
}

const NAME = /^\S+$/;

/**
 * A registered command. Everything is fixed at registration except {@link Command.disabled}
 * and {@link Command.hidden}, which may be toggled at run time.
 */
export class Command {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly description: string | undefined;
  /** Usage of the arguments, without prefix and name (`<a> <b>`); `""` when there are none. */
  readonly usage: string;
  readonly specs: readonly ArgumentSpec[];
  readonly checks: readonly CheckLike[];
  readonly cooldown: CooldownBuckets | undefined;
  /** The module that registered it, if any. */
  readonly module: string | undefined;
  hidden: boolean;
  disabled: boolean;
  readonly #handler: CommandHandler<never>;

  /** @throws {TypeError} on an invalid name or alias; `SyntaxError` on an invalid signature. */
  constructor(definition: AnyCommandDefinition, module?: string) {
    const o = definition.options;
    for (const n of [definition.name, ...(o.aliases ?? [])]) {
      if (typeof n !== "string" || !NAME.test(n)) throw new TypeError(`invalid command name ${JSON.stringify(n)}: must be non-empty, without whitespace`);
    }
    this.name = definition.name;
    this.aliases = [...(o.aliases ?? [])];
    this.description = o.description?.trim() || undefined;
    this.specs = o.args === undefined ? [] : specsOf(o.args);
    this.usage = o.usage ?? usageOfSpecs(this.specs);
    this.checks = [...(o.checks ?? [])];
    this.cooldown = o.cooldown === undefined ? undefined : new CooldownBuckets(o.cooldown);
    this.module = module;
    this.hidden = o.hidden ?? false;
    this.disabled = o.disabled ?? false;
    this.#handler = definition.handler;
  }

  /** The first line of the description, for listings. */
  get summary(): string | undefined {
    return this.description?.split("\n", 1)[0]?.trim() || undefined;
  }

  /** Every name that invokes the command: its name, then its aliases. */
  get names(): readonly string[] {
    return [this.name, ...this.aliases];
  }

  /** Runs the handler with already parsed arguments. The router calls this; tests may too. */
  invoke(ctx: CommandContext, args: unknown): unknown {
    return (this.#handler as CommandHandler<unknown>)(ctx, args);
  }
}

declare module "./context.js" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- a context's command is the registered `Command`
  interface InvokedCommand extends Command {}
}
