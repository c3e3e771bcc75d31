/**
 * A size-bounded map that forgets the least recently used entry first. The
 * messaging layer keeps several per-event memories (messages, reactions,
 * arrival order); each must stay bounded however long the bot runs.
 */

/**
 * @example
 * const recent = new LruMap<string, number>(2);
 * recent.set("a", 1); recent.set("b", 2); recent.get("a"); recent.set("c", 3);
 * [...recent.keys()] // ["a", "c"]: "b" was used least recently
 */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();
  /**
   * A long-lived iterator over the keys: its next key is always the oldest, since every key before
   * it was evicted or moved to the end. A fresh `keys()` per eviction would walk over the deleted
   * slots at the front of the map's table again each time (up to `capacity` of them until the
   * table is rebuilt), which made every `set` on a full map cost a scan.
   */
  #oldest: IterableIterator<K> | undefined;

  /** @param capacity - most entries kept; 0 keeps nothing. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`LRU capacity must be a non-negative integer, got ${capacity}`);
  }

  /** The value, marking it as recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    // A Map iterates in insertion order: re-inserting moves the key to the end.
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** The value, without changing its position. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Stores a value as most recently used, evicting the oldest entries beyond capacity. */
  set(key: K, value: V): this {
    this.#map.delete(key);
    if (this.capacity === 0) return this;
    this.#map.set(key, value);
    while (this.#map.size > this.capacity && this.shift() !== undefined);
    return this;
  }

  /** Replaces the value of a key already present, keeping its position; false (and nothing stored) when absent. */
  replace(key: K, value: V): boolean {
    if (!this.#map.has(key)) return false;
    this.#map.set(key, value);
    return true;
  }

  /** Removes the least recently used entry and returns it (undefined when empty). */
  shift(): [K, V] | undefined {
    let oldest = this.#oldest?.next();
    // A finished iterator stays finished (the spec says so), even if keys are added later.
    if (oldest === undefined || oldest.done === true) oldest = (this.#oldest = this.#map.keys()).next();
    if (oldest.done === true) return undefined;
    const value = this.#map.get(oldest.value) as V;
    this.#map.delete(oldest.value);
    return [oldest.value, value];
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#oldest = undefined;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Keys from least to most recently used. */
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
}
