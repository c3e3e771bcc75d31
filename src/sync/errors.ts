/**
 * Errors the sync engine reports through the bot's error funnel.
 *
 * @module
 */

/**
 * A handler ran longer than `handlerTimeoutMs`. Its signal was aborted and
 * its sync batch no longer waits for it; the handler itself keeps running
 * until it returns (aborting is up to the handler).
 */
export class HandlerTimeoutError extends Error {
  override readonly name = "HandlerTimeoutError";
  constructor(
    /** The room the handler was for. */
    readonly roomId: string,
    /** The event, when the handler was for one (not for invites, joins, leaves). */
    readonly eventId: string | undefined,
    /** The deadline it overran. */
    readonly timeoutMs: number,
  ) {
    super(`a handler for ${eventId ?? "a membership change"} in ${roomId} is still running after ${timeoutMs} ms; its sync batch no longer waits for it`);
  }
}

/**
 * A sync response failed to be processed `attempts` times in a row and was
 * skipped, so one bad response cannot stop the bot for good. `cause` is the
 * last failure.
 */
export class SyncBatchSkippedError extends Error {
  override readonly name = "SyncBatchSkippedError";
  constructor(
    /** The `next_batch` the bot moved on to. */
    readonly nextBatch: string,
    /** How often processing failed. */
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`a sync response failed to be processed ${attempts} times; went on without the part that failed`, options);
  }
}
