/**
 * `ctx.once(key, fn)`: a side effect outside Matrix that a replayed event does not repeat.
 *
 * A crash between a handler's work and the store recording its event as handled makes the
 * event run again after the restart. Sends through the command context are deduplicated by the
 * homeserver (see `txn.ts`); anything else the handler does (an HTTP call, a database row) is
 * at least once unless the handler makes it idempotent. `runOnce` records in the store that an
 * effect started, runs it, and stores its JSON result: a replay gets the stored result instead
 * of running it again.
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import type { Store } from "../storage/store.js";

/**
 * A `ctx.once` effect of a replayed event was started before but never recorded a result: the
 * process stopped while it ran (or its result was not JSON). It is not run again, since it may
 * have happened; the handler decides what to do (check the outside system, tell the user).
 */
export class OnceInterruptedError extends Error {
  override readonly name = "OnceInterruptedError";
  constructor(readonly eventId: string, readonly key: string) {
    super(`ctx.once("${key}") for ${eventId} started before but recorded no result (the process stopped while it ran, or its result was not JSON); not running it again`);
  }
}

/**
 * The value a `ctx.once` effect returned cannot be stored as JSON and read back equal
 * (a function, a BigInt, a Date, a class instance, a cycle, NaN…). The effect ran; it will not
 * run again for this event.
 */
export class OnceResultError extends Error {
  override readonly name = "OnceResultError";
  constructor(readonly eventId: string, readonly key: string, reason: string) {
    super(`ctx.once("${key}") for ${eventId} returned a value that is not plain JSON (${reason}); return a JSON value (or nothing) so a replay can get it back`);
  }
}

/** What the store holds for one effect: started, or finished with its value (absent for `undefined`). */
type EffectRecord = { done: false } | { done: true; value?: unknown };

/** Calls in progress in this process, so two concurrent calls with one key share one run. */
const inFlight = new WeakMap<Store, Map<string, Promise<unknown>>>();

/**
 * Runs `fn` at most once per (`eventId`, `key`) across restarts, as long as the store keeps the
 * record (the most recent `EFFECTS_KEPT` ones). The first run's result (any JSON value, or
 * `undefined`) is stored; later calls, in this process or after a restart, return it without
 * calling `fn`. If `fn` throws, nothing is recorded and a later call may try again.
 *
 * @throws {@link OnceInterruptedError} when a previous run started but never finished.
 * @throws {@link OnceResultError} when the result is not JSON that reads back equal.
 */
export function runOnce<T>(store: Store, eventId: string, key: string, fn: () => T | Promise<T>): Promise<T> {
  if (typeof key !== "string" || key === "") throw new TypeError("ctx.once needs a non-empty string key");
  let running = inFlight.get(store);
  if (running === undefined) inFlight.set(store, (running = new Map()));
  const id = JSON.stringify([eventId, key]);
  const existing = running.get(id);
  if (existing !== undefined) return existing as Promise<T>;
  const run = (async (): Promise<T> => {
    const stored = await store.getEffect(eventId, key);
    if (stored !== undefined) {
      const record = JSON.parse(stored) as EffectRecord;
      if (!record.done) throw new OnceInterruptedError(eventId, key);
      return record.value as T;
    }
    await store.setEffect(eventId, key, JSON.stringify({ done: false } satisfies EffectRecord));
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      // The effect failed before finishing: forget that it started, so a retry may run it.
      await store.setEffect(eventId, key, undefined);
      throw error;
    }
    await store.setEffect(eventId, key, encode(eventId, key, value));
    return value;
  })();
  running.set(id, run);
  const forget = (): void => void running.delete(id);
  run.then(forget, forget);
  return run;
}

function encode(eventId: string, key: string, value: unknown): string {
  if (value === undefined) return JSON.stringify({ done: true } satisfies EffectRecord);
  let json: string;
  try {
    json = JSON.stringify({ done: true, value } satisfies EffectRecord);
  } catch (error) {
    throw new OnceResultError(eventId, key, error instanceof Error ? error.message : String(error));
  }
  // What a replay would get back must be what this run returned.
  if (!isDeepStrictEqual((JSON.parse(json) as { value?: unknown }).value, value)) throw new OnceResultError(eventId, key, `${describe(value)} does not read back equal`);
  return json;
}

function describe(value: unknown): string {
  if (typeof value === "object" && value !== null) return `a ${value.constructor?.name ?? "null-prototype"} object`;
  return `a ${typeof value}`;
}
