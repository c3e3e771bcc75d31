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

/** Runs `fn(arg)` as `handler`, with no send scope (a handler never inherits another's sends). */
export function runAsHandler<A, T>(handler: RunningHandler, fn: (arg: A) => T, arg: A): T {
  return storage.run({ handler, send: undefined }, fn, arg);
}

/** Runs `fn` with `send` as its send scope, inside the current handler if any. */
export function runWithSends<T>(send: SendScope, fn: () => T): T {
  return storage.run({ handler: storage.getStore()?.handler, send }, fn);
}

/** The handler running in the current async context, if any. */
export function currentHandler(): RunningHandler | undefined {
  return storage.getStore()?.handler;
}

/** The send scope of the current async context, if any. */
export function currentSends(): SendScope | undefined {
  return storage.getStore()?.send;
}
