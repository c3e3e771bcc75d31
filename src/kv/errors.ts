/**
 * Errors of bot data (`bot.kv`).
 *
 * @module
 */

/** Why a value was refused or could not be read. */
export type KvValueErrcode =
  | "KV_UNDEFINED"
  | "KV_NOT_JSON"
  | "KV_CYCLE"
  | "KV_TOO_LARGE"
  | "KV_CORRUPT";

/**
 * A value could not be stored (not plain JSON, a cycle, too large) or a stored value could
 * not be read (not valid JSON). When writing, nothing was stored: the previous value stays.
 *
 * @example
 * try { await kv.set("k", { big: 1n }); } catch (e) { if (e instanceof KvValueError) console.log(e.errcode); } // KV_NOT_JSON
 */
export class KvValueError extends Error {
  override readonly name = "KvValueError";

  constructor(
    readonly errcode: KvValueErrcode,
    /** The namespace of the value. */
    readonly namespace: string,
    /** Its key. */
    readonly key: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${namespace}/${JSON.stringify(key)}: ${message}`, options);
  }
}

/** A namespace or key that cannot be used (empty or too long). */
export class KvKeyError extends RangeError {
  override readonly name = "KvKeyError";
}
