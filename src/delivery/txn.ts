/**
 * Deterministic transaction ids for sends made on behalf of an event.
 *
 * The homeserver deduplicates `PUT /rooms/{roomId}/send/{eventType}/{txnId}` and
 * `PUT /rooms/{roomId}/redact/{eventId}/{txnId}` per device (spec v1.7, MSC3970): a repeated
 * transaction id returns the first request's event id instead of posting again, whatever the
 * body (an encrypted event re-encrypted on retry included). A restarted bot reuses its stored
 * device, so when a crash replays an event whose answer already went out, sending that answer
 * again with the same transaction id is harmless. Randomly generated ids cannot give that: this
 * module derives them from the triggering event instead.
 *
 * @module
 */
import { hash } from "node:crypto";
import { currentSends, runWithSends, type SendScope } from "./context.js";

/** Separates the namespace from ids of any other scheme (and versions this derivation). */
const NAMESPACE = "niobot.txn.v1";

/**
 * The transaction id of the `index`-th send made on behalf of `eventId`: `nbe` plus the hex
 * SHA-256 of the namespace, the event id and the index path. Safe in a URL path (lowercase
 * letters and digits, 67 characters, like the random ids), and the same in every process.
 *
 * @example
 * deterministicTxnId("$abc:example.org", [0]); // the first answer to $abc
 * deterministicTxnId("$abc:example.org", [0, 1]); // a second send made by that same call
 */
export function deterministicTxnId(eventId: string, index: readonly number[]): string {
  // The one-shot `hash` (Node 20.12+): the same digest as a `createHash` object, without the object (about 5× cheaper).
  const digest = hash("sha256", `${NAMESPACE}\0${eventId}\0${index.join("\0")}`, "hex");
  return `nbe${digest}`;
}

/**
 * Numbers the sends made on behalf of one triggering event: the n-th call made through a
 * command context gets index n, whatever else runs concurrently.
 */
export class SendSequence {
  #next = 0;
  constructor(readonly eventId: string) {}

  /** The next call's index; taken synchronously when the call starts, so call order decides it. */
  take(): number {
    return this.#next++;
  }

  /**
   * Runs `work` so that room sends and redactions inside it use transaction ids derived from
   * the event and this call's index (a second send inside the same call gets a sub-index).
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    const scope: SendScope = { eventId: this.eventId, index: this.take(), sends: 0 };
    return runWithSends(scope, work);
  }
}

/**
 * The transaction id the current send should use: deterministic inside
 * {@link SendSequence.run}, `undefined` (meaning "a fresh random one") anywhere else.
 */
export function scopedTxnId(): string | undefined {
  const scope = currentSends();
  if (scope === undefined) return undefined;
  const n = scope.sends++;
  return deterministicTxnId(scope.eventId, n === 0 ? [scope.index] : [scope.index, n]);
}
