/**
 * Modules: groups of commands and event listeners mounted and unmounted together at run time.
 *
 * Two forms:
 * - a class whose methods carry the standard (TC39) decorators {@link command} and
 *   {@link listener}; mount an instance;
 * - a plain object from {@link defineModule}.
 *
 * Either may have `onMount(bot)` / `onUnmount(bot)` hooks. Unmounting removes every command and
 * listener the module added.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ArgumentDeclaration } from "./arguments.js";
import type { CheckLike } from "./checks.js";
import {
  defineCommand,
  type AnyCommandDefinition,
  type ArgsFor,
  type Command,
  type CommandOptionsFor,
} from "./command.js";
import type { CommandContext } from "./context.js";
import type { CommandBotEvents, CommandBotHost } from "./host.js";
import type { CommandRegistry } from "./registry.js";
import { isRecord } from "../util/record.js";

type AnyListener = (...args: unknown[]) => unknown;

/** The named events of the bot (the keys of its closed event map). */
export type KnownBotEvent = keyof CommandBotEvents & string;

/** A module's listener of event `K`. */
type ModuleListener<K extends keyof CommandBotEvents> = (...args: CommandBotEvents[K]) => unknown;

/**
 * A module's listeners by event name: one function or several. (For events outside the core
 * map, subscribe with `bot.on` in `onMount`, or use a decorated class.)
 */
export type ModuleListeners = {
  readonly [K in KnownBotEvent]?: ModuleListener<K> | readonly ModuleListener<K>[];
};

/** The plain-object form of a module. */
export interface ModuleDefinition {
  /** Unique among mounted modules; shown in logs. */
  readonly name: string;
  /** Commands, from {@link defineCommand}. */
  readonly commands?: readonly AnyCommandDefinition[];
  readonly listeners?: ModuleListeners;
  /** Checks added in front of every command of the module. */
  readonly checks?: readonly CheckLike[];
  onMount?(bot: CommandBotHost): unknown;
  onUnmount?(bot: CommandBotHost): unknown;
}

/**
 * Declares a plain-object module (an identity function that gives listeners their types).
 *
 * @example
 * export default defineModule({
 *   name: "greeter",
 *   commands: [defineCommand("hi", (ctx) => ctx.respond("hello"))],
 *   listeners: { join: (room) => console.log("joined", room.roomId) },
 * });
 */
export function defineModule<const M extends ModuleDefinition>(definition: M): M {
  return definition;
}

const ENTRIES: unique symbol = Symbol("niobot.module");

interface Entries {
  readonly commands: AnyCommandDefinition[];
  readonly listeners: [KnownBotEvent, AnyListener][];
}

interface Decorated {
  [ENTRIES]?: Entries;
}

function entriesOf(instance: object): Entries {
  const target = instance as Decorated;
  if (target[ENTRIES] === undefined) {
    Object.defineProperty(target, ENTRIES, { value: { commands: [], listeners: [] }, enumerable: false });
  }
  return target[ENTRIES] as Entries;
}

/**
 * Method decorator: the method is a command of its class's module. Annotate the second
 * parameter with the matching args type; the decorator checks it against the declaration.
 *
 * @example
 * class Maths {
 *   @command("add", { args: "<a:int> <b:int>", description: "Adds two numbers." })
 *   add(ctx: CommandContext, { a, b }: ArgsOf<"<a:int> <b:int>">) {
 *     return ctx.respond(`${a + b}`);
 *   }
 * }
 * await bot.mount(new Maths());
 */
export function command<const D extends ArgumentDeclaration | undefined = undefined>(
  name: string,
  options: CommandOptionsFor<D> = {},
) {
  return function <This extends object>(
    method: (this: This, ctx: CommandContext, args: ArgsFor<D>) => unknown,
    context: ClassMethodDecoratorContext<This>,
  ): void {
    context.addInitializer(function (this: This) {
      const handler = (ctx: CommandContext, args: ArgsFor<D>): unknown => method.call(this, ctx, args);
      entriesOf(this).commands.push(defineCommand(name, options, handler) as AnyCommandDefinition);
    });
  };
}

/**
 * Method decorator: the method listens to a bot event while its module is mounted.
 *
 * @example
 * class Greeter {
 *   @listener("join")
 *   welcome(room: Room) { ... }
 * }
 */
export function listener<const K extends keyof CommandBotEvents & string>(event: K) {
  return function <This extends object>(
    method: (this: This, ...args: CommandBotEvents[K]) => unknown,
    context: ClassMethodDecoratorContext<This>,
  ): void {
    context.addInitializer(function (this: This) {
      const bound = (...args: unknown[]): unknown => method.apply(this, args as CommandBotEvents[K]);
      entriesOf(this).listeners.push([event, bound]);
    });
  };
}

/** A mounted module, as {@link ModuleHost.mounted} lists it. */
export interface MountedModule {
  readonly name: string;
  /** What was mounted (the class instance or definition object). */
  readonly module: object;
  readonly commands: readonly Command[];
}

interface Normalized {
  name: string;
  commands: AnyCommandDefinition[];
  listeners: [KnownBotEvent, AnyListener][];
  checks: CheckLike[];
  onMount?: (bot: CommandBotHost) => unknown;
  onUnmount?: (bot: CommandBotHost) => unknown;
}

interface Mounted extends MountedModule {
  readonly offs: (() => void)[];
  readonly onUnmount: ((bot: CommandBotHost) => unknown) | undefined;
}

function normalize(module: object): Normalized {
  const m = module as Record<string | symbol, unknown> & Decorated & Partial<ModuleDefinition> & { moduleName?: unknown };
  const decorated = m[ENTRIES];
  const name = typeof m.moduleName === "string" ? m.moduleName : typeof m.name === "string" ? m.name : decorated !== undefined ? module.constructor.name : undefined;
  if (name === undefined || name === "") throw new TypeError("a module needs a name (a `name` property, or a decorated class)");
  const listeners: [KnownBotEvent, AnyListener][] = [...(decorated?.listeners ?? [])];
  if (isRecord(m.listeners)) {
    for (const [event, value] of Object.entries(m.listeners)) {
      for (const fn of Array.isArray(value) ? value : [value]) {
        if (typeof fn !== "function") throw new TypeError(`module "${name}": listener for "${event}" is not a function`);
        // A plain object from anywhere: its keys are trusted to be event names (the type says so).
        listeners.push([event as KnownBotEvent, fn as AnyListener]);
      }
    }
  }
  const hook = (key: "onMount" | "onUnmount"): ((bot: CommandBotHost) => unknown) | undefined => {
    const fn = m[key];
    return typeof fn === "function" ? (bot) => (fn as (bot: CommandBotHost) => unknown).call(module, bot) : undefined;
  };
  return {
    name,
    commands: [...(decorated?.commands ?? []), ...(Array.isArray(m.commands) ? m.commands : [])],
    listeners,
    checks: Array.isArray(m.checks) ? [...m.checks] : [],
    ...(hook("onMount") === undefined ? {} : { onMount: hook("onMount") }),
    ...(hook("onUnmount") === undefined ? {} : { onUnmount: hook("onUnmount") }),
  };
}

/** Mounts modules onto a bot and takes them off again. The bot owns one. */
export class ModuleHost {
  readonly #bot: CommandBotHost;
  readonly #registry: CommandRegistry;
  readonly #mounted = new Map<object, Mounted>();

  constructor(bot: CommandBotHost, registry: CommandRegistry) {
    this.#bot = bot;
    this.#registry = registry;
  }

  /** The mounted modules, in mount order. */
  get mounted(): readonly MountedModule[] {
    return [...this.#mounted.values()].map(({ name, module, commands }) => ({ name, module, commands }));
  }

  /**
   * Registers a module's commands and listeners, then runs its `onMount`. All or nothing: on a
   * name clash or a failing hook, whatever was added is removed again and the error thrown.
   */
  async mount(module: object): Promise<MountedModule> {
    if (this.#mounted.has(module)) throw new Error("this module is already mounted");
    const n = normalize(module);
    for (const other of this.#mounted.values()) {
      if (other.name === n.name) throw new Error(`a module named "${n.name}" is already mounted`);
    }
    const commands: Command[] = [];
    const offs: (() => void)[] = [];
    const rollback = (): void => {
      for (const c of commands) this.#registry.remove(c);
      for (const off of offs) off();
    };
    try {
      for (const def of n.commands) {
        const checks = [...n.checks, ...(def.options.checks ?? [])];
        commands.push(this.#registry.add({ ...def, options: { ...def.options, checks } }, n.name));
      }
      // Names come from the module object at run time; a name the bot never emits just never fires.
      for (const [event, fn] of n.listeners) offs.push(this.#bot.on(event as KnownBotEvent, fn));
      await n.onMount?.(this.#bot);
    } catch (error) {
      rollback();
      throw error;
    }
    const mounted: Mounted = { name: n.name, module, commands, offs, onUnmount: n.onUnmount };
    this.#mounted.set(module, mounted);
    this.#bot.log.debug({ module: n.name, commands: commands.length, listeners: offs.length }, "module mounted");
    return { name: n.name, module, commands };
  }

  /**
   * Removes a module's commands and listeners, then runs its `onUnmount`. Accepts the mounted
   * object or its name; returns whether something was unmounted.
   */
  async unmount(module: object | string): Promise<boolean> {
    const entry = typeof module === "string"
      ? [...this.#mounted.values()].find((m) => m.name === module)
      : this.#mounted.get(module);
    if (entry === undefined) return false;
    this.#mounted.delete(entry.module);
    for (const c of entry.commands) this.#registry.remove(c);
    for (const off of entry.offs) off();
    await entry.onUnmount?.(this.#bot);
    this.#bot.log.debug({ module: entry.name }, "module unmounted");
    return true;
  }

  /**
   * Imports a module file and mounts its default export: a module object, a class instance, or
   * a class (instantiated with the bot as its only argument).
   *
   * @example
   * await bot.loadModule("./modules/greeter.js");
   */
  async load(path: string): Promise<MountedModule> {
    const isUrl = /^(?:file|data|https?):/i.test(path);
    const url = isUrl ? path : pathToFileURL(resolve(path)).href;
    const namespace = (await import(url)) as { default?: unknown };
    const exported = namespace.default;
    if (exported === undefined || exported === null) throw new TypeError(`${path} has no default export to mount`);
    const module: unknown = typeof exported === "function" ? new (exported as new (bot: CommandBotHost) => object)(this.#bot) : exported;
    if (!isRecord(module)) throw new TypeError(`the default export of ${path} is not a module`);
    return this.mount(module);
  }
}
