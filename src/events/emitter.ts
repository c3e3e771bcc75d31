/**
 * A typed, async-aware event emitter. Unlike Node's EventEmitter, `emit`
 * waits for async listeners and routes every thrown or rejected error to one
 * funnel, so no error is lost in a fire-and-forget emit and none stops the caller.
 */

/**
 * Maps event names to the argument tuple their listeners receive. Written as a constraint on
 * the map itself, so a closed interface (no index signature) qualifies: an unknown name is then
 * a compile error.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] };

/** A listener of event `K`; may be async. */
export type Listener<E extends EventMap<E>, K extends keyof E> = (...args: E[K]) => unknown;

/** Where listener errors go: the error, the event name and the listener's arguments. */
export type ListenerErrorSink = (error: unknown, eventName: string, args: readonly unknown[]) => void;

/** Rejected by `waitFor` when the timeout passes first. */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  constructor(what: string, readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** What `emit` returns when no listener is async. */
const DONE: Promise<void> = Promise.resolve();
const noop = (): void => undefined;

/**
 * @example
 * type Events = { greet: [name: string] };
 * const e = new TypedEmitter<Events>((err) => console.error(err));
 * e.on("greet", async (name) => { ... });
 * await e.emit("greet", "alice");
 */
export class TypedEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<keyof E, Set<Listener<E, keyof E>>>();

  constructor(private readonly onListenerError: ListenerErrorSink) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(name: K, listener: Listener<E, K>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener as Listener<E, keyof E>);
    return () => this.off(name, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof E>(name: K, listener: Listener<E, K>): () => void {
    const off = this.on(name, (...args: E[K]) => {
      off();
      return listener(...args);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(name: K, listener: Listener<E, K>): void {
    const set = this.#listeners.get(name);
    set?.delete(listener as Listener<E, keyof E>);
    if (set?.size === 0) this.#listeners.delete(name);
  }

  /** Number of listeners of an event. */
  listenerCount(name: keyof E): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  /**
   * Calls every listener of `name` with `args` and waits for all of them.
   * Errors go to the error sink; `emit` itself never rejects.
   */
  emit<K extends keyof E>(name: K, ...args: E[K]): Promise<void> {
    return this.emitPending(name, ...args) ?? DONE;
  }

  /**
   * {@link TypedEmitter.emit}, but undefined instead of a settled promise when no listener is
   * async: a caller on the per-event path then has nothing to await (an `await` is a promise).
   */
  emitPending<K extends keyof E>(name: K, ...args: E[K]): Promise<void> | undefined {
    const set = this.#listeners.get(name);
    // Most events of a busy bot have no listener, or one: no promise of their own for those.
    if (!set || set.size === 0) return undefined;
    if (set.size === 1) return this.#call(set.values().next().value as Listener<E, keyof E>, name, args);
    const runs: Promise<unknown>[] = [];
    for (const listener of [...set]) {
      const run = this.#call(listener, name, args);
      if (run) runs.push(run);
    }
    return runs.length > 0 ? Promise.all(runs).then(noop) : undefined;
  }

  /** Calls one listener; a promise (that never rejects) when it is async. */
  #call<K extends keyof E>(listener: Listener<E, keyof E>, name: K, args: E[K]): Promise<void> | undefined {
    try {
      const result = listener(...args);
      if (result instanceof Promise) return result.then(noop, (error: unknown) => this.onListenerError(error, String(name), args));
    } catch (error) {
      this.onListenerError(error, String(name), args);
    }
    return undefined;
  }

  /**
   * Resolves with the arguments of the next `name` event that passes `check`.
   *
   * @param timeoutMs - reject with {@link WaitTimeoutError} after this long (default: never).
   */
  waitFor<K extends keyof E>(
    name: K,
    check: (...args: E[K]) => boolean | Promise<boolean> = () => true,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<E[K]> {
    return new Promise<E[K]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        off();
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason);
      };
      const off = this.on(name, async (...args: E[K]) => {
        let ok: boolean;
        try {
          ok = await check(...args);
        } catch (error) {
          cleanup();
          reject(error);
          return;
        }
        if (!ok) return;
        cleanup();
        resolve(args);
      });
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          cleanup();
          reject(new WaitTimeoutError(`event "${String(name)}"`, timeoutMs));
        }, timeoutMs);
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  }
}
