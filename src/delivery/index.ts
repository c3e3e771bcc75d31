/**
 * Delivery guarantees across crashes: deterministic transaction ids for sends made through a
 * command context (exactly once in Matrix) and `ctx.once` for other side effects.
 *
 * @module
 */
export { deterministicTxnId, SendSequence } from "./txn.js";
export { OnceInterruptedError, OnceResultError, runOnce } from "./once.js";
