/**
 * The table of registered commands, looked up by name or alias.
 *
 * @module
 */
import { Command, type AnyCommandDefinition } from "./command.js";

/**
 * Commands by name and alias. Lookup folds case when the bot matches commands
 * case-insensitively (the default); arguments are never folded.
 *
 * @example
 * bot.commands.get("PING")?.name // => "ping"
 * for (const c of bot.commands) console.log(c.name);
 */
export class CommandRegistry implements Iterable<Command> {
  readonly #byName = new Map<string, Command>();
  readonly #commands = new Set<Command>();
  readonly #fold: (name: string) => string;
  readonly #listeners = new Set<() => void>();

  constructor(options: { caseInsensitive: boolean }) {
    this.#fold = options.caseInsensitive ? (n) => n.toLowerCase() : (n) => n;
  }

  /**
   * Registers a command (a definition or a built {@link Command}).
   *
   * @throws {Error} when its name or an alias is already taken; nothing is registered then.
   */
  add(definition: AnyCommandDefinition | Command, module?: string): Command {
    const command = definition instanceof Command ? definition : new Command(definition, module);
    const keys = command.names.map(this.#fold);
    const seen = new Set<string>();
    for (const [i, key] of keys.entries()) {
      const taken = this.#byName.get(key);
      if (taken !== undefined || seen.has(key)) {
        const owner = taken === undefined ? `"${command.name}" itself` : `"${taken.name}"`;
        throw new Error(`cannot register command "${command.name}": the name "${command.names[i]}" is already used by ${owner}`);
      }
      seen.add(key);
    }
    for (const key of keys) this.#byName.set(key, command);
    this.#commands.add(command);
    this.#changed();
    return command;
  }

  /** Unregisters a command (by object, name or alias); returns whether one was removed. */
  remove(command: Command | string): boolean {
    const found = typeof command === "string" ? this.get(command) : command;
    if (found === undefined || !this.#commands.has(found)) return false;
    for (const key of found.names.map(this.#fold)) {
      if (this.#byName.get(key) === found) this.#byName.delete(key);
    }
    this.#commands.delete(found);
    this.#changed();
    return true;
  }

  /**
   * Calls `listener` after every add and remove (a module mount: once per command). Returns a
   * function that stops the calls. Listeners must not throw.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** The command a name or alias invokes. */
  get(name: string): Command | undefined {
    return this.#byName.get(this.#fold(name));
  }

  /** Whether a name or alias is taken. */
  has(name: string): boolean {
    return this.#byName.has(this.#fold(name));
  }

  /** Number of commands (aliases not counted). */
  get size(): number {
    return this.#commands.size;
  }

  [Symbol.iterator](): Iterator<Command> {
    return this.#commands.values();
  }
}
