/**
 * What runs on behalf of an event carries, across its awaits: the running handler (its signal,
 * and its turn to give up while it waits; see `sync/scheduler.ts`) and the numbering of its sends
 * (deterministic transaction ids; see `txn.ts`).
 *
 * One `AsyncLocalStorage` for both, on purpose: on Node 20 every promise the process creates pays
 * the async hooks of each active storage (a `_propagate` call per storage per promise, undici's
 * included), so a second storage is a second cost on every promise, not only on handlers.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The handler running in the current async context. */
export interface RunningHandler {
  readonly signal: AbortSignal;
  /** Gives up the handler's room turn and concurrency slot (idempotent). */
  release(): void;
}

/** The sends made by one call on behalf of an event (see `txn.ts`). */
export interface SendScope {
  readonly eventId: string;
  readonly index: number;
  sends: number;
}

interface Frame {
  readonly handler: RunningHandler | undefined;
  readonly send: SendScope | undefined;
}

const storage = new AsyncLocalStorage<Frame>();

/**
 * Frames whose work has not settled yet. While none is, the storage is disabled: an enabled
 * storage costs every promise of the process a hook call and three properties (the sync long poll
 * and undici's own promises included), and with nothing to carry there is nothing to pay for.
 * `run` enables it again; contexts stored on promises meanwhile survive the pause.
 */
let live = 0;

function leave(): void {
  if (--live === 0) storage.disable();
}

/** Runs `fn(arg)` in `frame`, counted as live until what it returns has settled. */
function enter<A, T>(frame: Frame, fn: (arg: A) => T, arg: A): T {
  live++;
  let result: T;
  try {
    result = storage.run(frame, fn, arg);
  } catch (error) {
    leave();
    throw error;
  }
  if (!(result instanceof Promise)) {
    leave();
    return result;
  }
  // A new promise that settles as `result` does: a rejection nobody handles still surfaces.
  return result.then(
    (value: unknown) => (leave(), value),
    (error: unknown) => {
      leave();
      throw error;
    },
  ) as T;
}

/**
 * Runs `fn(arg)` as `handler`, with no send scope (a handler never inherits another's sends).
 * The context lasts until the promise `fn` returns settles; work it starts without awaiting and
 * that outlives it may find no context then.
 */
export function runAsHandler<A, T>(handler: RunningHandler, fn: (arg: A) => T, arg: A): T {
  return enter({ handler, send: undefined }, fn, arg);
}

/** Runs `fn` with `send` as its send scope, inside the current handler if any. */
export function runWithSends<T>(send: SendScope, fn: () => T): T {
  return enter({ handler: storage.getStore()?.handler, send }, fn, undefined);
}

/** The handler running in the current async context, if any. */
export function currentHandler(): RunningHandler | undefined {
  return storage.getStore()?.handler;
}

/** The send scope of the current async context, if any. */
export function currentSends(): SendScope | undefined {
  return storage.getStore()?.send;
}

/** Whether the storage is enabled (some frame's work has not settled); for tests of its cost. */
export function contextLive(): boolean {
  return live > 0;
}
