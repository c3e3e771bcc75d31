/**
 * When the crypto layer's one-time set-up (the cross-signing identity, its
 * signatures, secret storage, the key backup) may start: after the first
 * answer, not beside it. Those are a dozen writes the homeserver serves one
 * after the other; started beside the first long poll, they reach it while
 * it serves the first command and its reply (at 200 rooms the first reply's
 * send took 218 ms instead of about 20). Nothing a reply in an unencrypted
 * room needs waits for them, and what does need them (an encrypted send, a
 * decryption) waits for them anyway.
 *
 * The trigger fires at the first of:
 * - the loop is about to send its next long poll after a batch with news for
 *   the handlers (timeline events, invites): that batch has been dispatched
 *   and its handlers have finished (or the engine's bound on waiting for them
 *   passed), so the first answers are out. A batch with nothing for them (the
 *   bot's own device list or key counts, which often end the first long poll)
 *   does not count;
 * - {@link SET_UP_IDLE_MS} have passed since the first long poll went out
 *   without such a batch: a quiet start does not wait for traffic (`start()`
 *   waits for the set-up, so it resolves that much later);
 * - {@link SetUpTrigger.fire}: the bot stops, or there is no sync loop to watch.
 *
 * @module
 */

import type { SyncResponse } from "../api/types.js";

/** Whether a batch has anything for the handlers: a timeline event of a joined room, or an invite. */
function hasNews(response: SyncResponse): boolean {
  const rooms = response.rooms;
  if (!rooms) return false;
  for (const _ in rooms.invite ?? {}) return true;
  for (const room of Object.values(rooms.join ?? {})) if ((room.timeline?.events?.length ?? 0) > 0) return true;
  return false;
}

/** How long a first long poll may stay quiet before the set-up starts anyway. */
export const SET_UP_IDLE_MS = 500;

/** Tells the crypto layer when its one-time set-up may start (see the module comment). */
export class SetUpTrigger {
  #news = false;
  #timer: NodeJS.Timeout | undefined;
  #fire!: () => void;
  #fired = false;
  /** Resolves once the set-up may start; never rejects. */
  readonly fired: Promise<void> = new Promise<void>((resolve) => (this.#fire = resolve));

  /**
   * The idle wait of triggers made without one: {@link SET_UP_IDLE_MS}. Tests that assert the
   * order of requests against a real server raise it, so a slow machine does not fire it early.
   */
  static defaultIdleMs = SET_UP_IDLE_MS;

  /** @param idleMs how long a quiet first long poll holds the set-up back. */
  constructor(private readonly idleMs = SetUpTrigger.defaultIdleMs) {}

  /** The loop is about to send a long poll (the sync engine's `beforePoll`). */
  polling(): void {
    if (this.#fired) return;
    if (this.#news) return this.fire();
    // The first poll after the initial batch starts the idle wait; quiet batches do not restart it.
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.fire(), this.idleMs);
    this.#timer.unref();
  }

  /**
   * A batch came (the crypto hook's `beforeBatch`): one with news for the handlers ends the idle
   * wait, and the next poll (once it has been handled) fires.
   */
  batch(response: SyncResponse, initial: boolean): void {
    if (initial || this.#fired || this.#news || !hasNews(response)) return;
    this.#news = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Fires now (idempotent). */
  fire(): void {
    if (this.#fired) return;
    this.#fired = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#fire();
  }
}
