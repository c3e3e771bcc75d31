/**
 * Bot data: typed JSON values kept in the bot's store, by namespace and key.
 *
 * @module
 */
import type { Store, StoredKvEntry } from "../storage/store.js";
import { KvKeyError } from "./errors.js";
import { decodeValue, encodeValue, KV_MAX_KEY_LENGTH } from "./value.js";

/** Options of a write. */
export interface KvSetOptions {
  /**
   * Time to live in ms: after it the value reads as absent and is purged. A `set` without it
   * stores a value that never expires; an `update` without it keeps the current expiry.
   */
  ttlMs?: number;
}

/** Options of {@link Kv.entries}. */
export interface KvEntriesOptions {
  /** Only keys starting with this (default: all). */
  prefix?: string;
  /** Values read from the store at a time (default 100). */
  pageSize?: number;
}

/** Options of a {@link KvSpace}. */
export interface KvSpaceOptions {
  /** The clock (ms since epoch); default `Date.now`. */
  now?: () => number;
  /** How often, at most, expired values of all namespaces are purged (default 10 min). */
  purgeIntervalMs?: number;
}

function checkName(what: string, name: string, allowEmpty: boolean): void {
  if (typeof name !== "string" || (!allowEmpty && name === "") || name.length > KV_MAX_KEY_LENGTH)
    throw new KvKeyError(`${what} must be a ${allowEmpty ? "" : "non-empty "}string of at most ${KV_MAX_KEY_LENGTH} characters`);
}

function checkTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
}

/**
 * Every namespace of one store, with what they share: the per-key write order and the purge
 * of expired values. The bot owns one (`bot.kv(...)`); build your own only around a store
 * you opened yourself.
 */
export class KvSpace {
  readonly store: Store;
  readonly #now: () => number;
  readonly #purgeIntervalMs: number;
  #lastPurge = -Infinity;
  /** The tail of each key's queue of writes; absent when none is running. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(store: Store, options: KvSpaceOptions = {}) {
    this.store = store;
    this.#now = options.now ?? Date.now;
    this.#purgeIntervalMs = options.purgeIntervalMs ?? 10 * 60_000;
  }

  /** The current time, by this space's clock. */
  now(): number {
    return this.#now();
  }

  /** A namespace. `T` is the type of its values (not checked at run time). */
  namespace<T>(name: string): Kv<T> {
    checkName("namespace", name, false);
    return new Kv<T>(this, name);
  }

  /**
   * Runs `work` after every earlier write of the same key, so read-modify-write is atomic
   * within the process (the store has one connection, held by one process).
   */
  async locked<R>(namespace: string, key: string, work: () => Promise<R>): Promise<R> {
    const id = `${namespace}\u0000${key}`;
    const before = this.#locks.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => undefined);
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return run;
  }

  /** Purges expired values of every namespace when the last purge is older than the interval. */
  async purgeIfDue(): Promise<void> {
    const now = this.#now();
    if (now - this.#lastPurge < this.#purgeIntervalMs) return;
    this.#lastPurge = now;
    await this.store.kvPurgeExpired(now);
  }

  /** Whether an entry has expired. */
  expired(entry: StoredKvEntry): boolean {
    return entry.expiresAt !== undefined && entry.expiresAt <= this.#now();
  }
}

/**
 * One namespace of bot data: typed JSON values by key, kept in the bot's store (the same
 * SQLite file as the bot's state, or memory with the memory store).
 *
 * Values must be plain JSON of at most 64 KiB (see {@link KV_MAX_VALUE_BYTES}); anything else
 * throws {@link KvValueError} and leaves the stored value unchanged.
 *
 * @example
 * const counters = bot.kv<number>("counters");
 * await counters.update("pings", (n = 0) => n + 1);
 * for await (const [key, n] of counters.entries({ prefix: "p" })) console.log(key, n);
 */
export class Kv<T> {
  readonly space: KvSpace;
  readonly namespace: string;

  constructor(space: KvSpace, namespace: string) {
    this.space = space;
    this.namespace = namespace;
  }

  /** The value of `key`, or `undefined` when there is none (or it expired). */
  async get(key: string): Promise<T | undefined> {
    checkName("key", key, true);
    await this.space.purgeIfDue();
    const entry = await this.space.store.kvGet(this.namespace, key);
    if (entry === undefined) return undefined;
    if (this.space.expired(entry)) {
      await this.#dropIfExpired(key);
      return undefined;
    }
    return decodeValue(this.namespace, key, entry.value) as T;
  }

  /** Stores `value` under `key`, replacing what was there. */
  async set(key: string, value: T, options: KvSetOptions = {}): Promise<void> {
    checkName("key", key, true);
    checkTtl(options.ttlMs);
    const text = encodeValue(this.namespace, key, value);
    await this.space.locked(this.namespace, key, async () => {
      await this.space.store.kvSet(this.namespace, key, text, options.ttlMs === undefined ? undefined : this.space.now() + options.ttlMs);
    });
  }

  /**
   * Atomic read-modify-write: `fn` gets the current value (`undefined` when absent) and returns
   * the new one, or `undefined` to delete it. Writes of one key run one at a time, so concurrent
   * updates never lose a write. If `fn` throws or returns a bad value, nothing changes.
   *
   * @returns the new value.
   * @example
   * await kv.update("visits", (n = 0) => n + 1);
   */
  async update(key: string, fn: (current: T | undefined) => T | undefined | Promise<T | undefined>, options: KvSetOptions = {}): Promise<T | undefined> {
    checkName("key", key, true);
    checkTtl(options.ttlMs);
    return this.space.locked(this.namespace, key, async () => {
      const { store } = this.space;
      const entry = await store.kvGet(this.namespace, key);
      const live = entry !== undefined && !this.space.expired(entry) ? entry : undefined;
      const current = live === undefined ? undefined : (decodeValue(this.namespace, key, live.value) as T);
      const next = await fn(current);
      if (next === undefined) {
        if (entry !== undefined) await store.kvDelete(this.namespace, key);
        return undefined;
      }
      const text = encodeValue(this.namespace, key, next);
      const expiresAt = options.ttlMs !== undefined ? this.space.now() + options.ttlMs : live?.expiresAt;
      await store.kvSet(this.namespace, key, text, expiresAt);
      // A fresh copy, as `get` would return: the caller can't alias what is stored.
      return JSON.parse(text) as T;
    });
  }

  /** Deletes `key`; whether a live value was there. */
  async delete(key: string): Promise<boolean> {
    checkName("key", key, true);
    return this.space.locked(this.namespace, key, async () => {
      const entry = await this.space.store.kvGet(this.namespace, key);
      if (entry === undefined) return false;
      await this.space.store.kvDelete(this.namespace, key);
      return !this.space.expired(entry);
    });
  }

  /**
   * The live values, in ascending key order (by code point), read page by page; values written
   * meanwhile may or may not appear.
   *
   * @example
   * for await (const [userId, score] of bot.kv<number>("scores").entries()) console.log(userId, score);
   */
  async *entries(options: KvEntriesOptions = {}): AsyncGenerator<[key: string, value: T]> {
    const prefix = options.prefix ?? "";
    const pageSize = options.pageSize ?? 100;
    await this.space.purgeIfDue();
    let after: string | undefined;
    for (;;) {
      const page = await this.space.store.kvList(this.namespace, { prefix, limit: pageSize, ...(after === undefined ? {} : { after }) });
      for (const entry of page) {
        if (this.space.expired(entry)) continue;
        yield [entry.key, decodeValue(this.namespace, entry.key, entry.value) as T];
      }
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.key;
    }
  }

  /** Same as {@link Kv.entries} with no prefix: `for await (const [key, value] of kv)`. */
  [Symbol.asyncIterator](): AsyncGenerator<[key: string, value: T]> {
    return this.entries();
  }

  /**
   * One key of this namespace as an object: the view behind `ctx.userData` and `ctx.roomData`.
   *
   * @example
   * const prefs = bot.kv<{ lang: string }>("prefs").entry("@alice:example.org");
   * await prefs.set({ lang: "de" });
   */
  entry(key: string): KvEntry<T> {
    checkName("key", key, true);
    return new KvEntry<T>(this, key);
  }

  async #dropIfExpired(key: string): Promise<void> {
    await this.space.locked(this.namespace, key, async () => {
      const entry = await this.space.store.kvGet(this.namespace, key);
      if (entry !== undefined && this.space.expired(entry)) await this.space.store.kvDelete(this.namespace, key);
    });
  }
}

/** One key of a {@link Kv} namespace. */
export class KvEntry<T> {
  constructor(
    readonly kv: Kv<T>,
    readonly key: string,
  ) {}

  /** The value, or `undefined`. */
  get(): Promise<T | undefined> {
    return this.kv.get(this.key);
  }

  /** Replaces the value. */
  set(value: T, options?: KvSetOptions): Promise<void> {
    return this.kv.set(this.key, value, options);
  }

  /** Atomic read-modify-write (see {@link Kv.update}). */
  update(fn: (current: T | undefined) => T | undefined | Promise<T | undefined>, options?: KvSetOptions): Promise<T | undefined> {
    return this.kv.update(this.key, fn, options);
  }

  /** Deletes the value. */
  delete(): Promise<boolean> {
    return this.kv.delete(this.key);
  }
}
