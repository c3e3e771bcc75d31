/**
 * Bot data: `bot.kv<T>(namespace)`, `ctx.userData<T>(namespace)`, `ctx.roomData<T>(namespace)`.
 *
 * @module
 */
export { Kv, KvEntry, KvSpace, type KvEntriesOptions, type KvSetOptions, type KvSpaceOptions } from "./kv.js";
export { KvKeyError, KvValueError, type KvValueErrcode } from "./errors.js";
export { KV_MAX_KEY_LENGTH, KV_MAX_VALUE_BYTES } from "./value.js";
