/**
 * The crypto machine's start, kept off the first answer. Opening the machine
 * (compiling the wasm library, opening its store, a fresh device's keys) takes
 * hundreds of milliseconds, and the first batches need not wait for it:
 *
 * - A batch that comes while the machine is not open yet is dispatched at
 *   once, and its part for the machine (to-device events, device lists,
 *   one-time key counts, member changes of encrypted rooms) is queued and fed
 *   in order once the machine is open. The batch's sync token waits for that
 *   feed (a {@link BatchGate}): a to-device event, which the server deletes
 *   once a later token is used, is never skipped by a saved position before
 *   the machine has it. Once the queue is empty, batches go to the machine
 *   directly again, before dispatch.
 * - An event waits for the machine unless its room is known to be
 *   unencrypted: encrypted events, verification events, every event of an
 *   encrypted room, and every event of a room whose encryption state cannot
 *   be told (fail closed). Sends into encrypted rooms wait for it too.
 *
 * @module
 */
import type { ClientEvent } from "../api/events.js";
import type { JoinedRoomSync, SyncResponse } from "../api/types.js";
import type { BatchGate } from "../sync/engine.js";
import type { Room } from "../sync/room.js";
import type { BotCrypto } from "./crypto.js";
import type { SetUpTrigger } from "./set-up-trigger.js";
import { isVerificationEvent } from "./verification-events.js";

interface Queued {
  response: SyncResponse;
  initial: boolean;
  consumed: () => void;
  failed: (error: unknown) => void;
}

/** What decides whether a room is definitely unencrypted (the send path's own decision, `RoomEncryption`). */
export type EncryptionOf = (roomId: string) => Promise<unknown>;

/** The part of a batch the machine reads: no timeline beyond member and encryption events, no room state beyond those. */
export function cryptoPart(response: SyncResponse): SyncResponse {
  const keep = <E extends { type: string }>(events: readonly E[] | undefined): E[] =>
    (events ?? []).filter((e) => e.type === "m.room.member" || e.type === "m.room.encryption");
  const join: Record<string, JoinedRoomSync> = {};
  // Every joined room stays: one with any news counts as activity when it is encrypted.
  for (const [roomId, room] of Object.entries(response.rooms?.join ?? {}))
    join[roomId] = { state: { events: keep(room.state?.events) }, timeline: { events: keep(room.timeline?.events) } };
  const leave: Record<string, object> = {};
  for (const roomId of Object.keys(response.rooms?.leave ?? {})) leave[roomId] = {};
  return {
    next_batch: response.next_batch,
    rooms: { join, leave },
    ...(response.to_device ? { to_device: response.to_device } : {}),
    ...(response.device_lists ? { device_lists: response.device_lists } : {}),
    ...(response.device_one_time_keys_count ? { device_one_time_keys_count: response.device_one_time_keys_count } : {}),
    ...(response.device_unused_fallback_key_types ? { device_unused_fallback_key_types: response.device_unused_fallback_key_types } : {}),
  };
}

/** Hands batches to the crypto machine while it opens, and tells which events must wait for it. */
export class CryptoStartQueue {
  readonly #queue: Queued[] = [];
  #crypto: BotCrypto | undefined;
  #closed = false;
  #fail!: (error: unknown) => void;
  /** Resolves with the machine once it is open and every queued batch was fed to it. */
  readonly ready: Promise<BotCrypto>;
  readonly #opening: Promise<BotCrypto>;
  /** Settles once the feeding is over (caught up, failed or abandoned): the machine is free to close. */
  readonly #fed: Promise<unknown>;
  /** The outbox's encrypter while the machine opens: a send into an encrypted room waits for it. */
  readonly encrypter = {
    encrypt: async (room: Parameters<BotCrypto["encrypt"]>[0], eventType: string, content: Record<string, unknown>): Promise<Record<string, unknown>> =>
      (await this.need()).encrypt(room, eventType, content),
  };

  /**
   * @param opening the machine being opened.
   * @param encryptionOf the room's encryption settings, undefined when it is definitely not
   *   encrypted; throws when that cannot be told.
   * @param setUp told of every batch and long poll: when the machine's one-time set-up may start.
   * @param needed called when something waits for the machine (an event that must wait for it, an
   *   encrypted send or fetch): a machine whose opening is held back until the first answers are
   *   out opens now.
   */
  constructor(opening: Promise<BotCrypto>, private readonly encryptionOf: EncryptionOf, private readonly setUp?: SetUpTrigger, private readonly needed?: () => void) {
    this.#opening = opening;
    const fed = opening.then(async (crypto) => (await this.#drain(crypto), crypto));
    this.#fed = fed.catch(() => undefined);
    this.ready = new Promise<BotCrypto>((resolve, reject) => {
      this.#fail = reject;
      fed.then(resolve, reject);
    });
    this.ready.catch(() => undefined);
  }

  /** The machine, once it is open and caught up with the queued batches. */
  get crypto(): BotCrypto | undefined {
    return this.#crypto;
  }

  /**
   * The sync engine's `beforeBatch`: straight to the machine once it is open and caught up;
   * before that the batch's part for it is queued, and the returned gate holds the batch's token.
   */
  beforeBatch(response: SyncResponse, initial: boolean): Promise<void> | BatchGate {
    this.setUp?.batch(response, initial);
    if (this.#crypto) return this.#crypto.beforeBatch(response, initial);
    let consumed!: () => void;
    let failed!: (error: unknown) => void;
    const gate = new Promise<void>((resolve, reject) => ((consumed = resolve), (failed = reject)));
    gate.catch(() => undefined);
    // A closed queue feeds nothing more: the position stays before this batch, which comes again.
    if (!this.#closed) this.#queue.push({ response: cryptoPart(response), initial, consumed, failed });
    return { consumed: gate };
  }

  /** The sync engine's `beforePoll`: a long poll is about to go out (see {@link SetUpTrigger}). */
  beforePoll(): void {
    this.setUp?.polling();
  }

  /**
   * The machine for an event: once it is open, at once; before that, undefined for an event of
   * a room known to be unencrypted (dispatched without it), else the machine once it is ready.
   */
  async machineFor(room: Room, event: ClientEvent): Promise<BotCrypto | undefined> {
    if (this.#crypto) return this.#crypto;
    return (await this.#needsMachine(room, event)) ? this.need() : undefined;
  }

  /** The machine once it is ready, for something that waits for it now: opens it if it is held back. */
  need(): Promise<BotCrypto> {
    if (!this.#crypto) this.needed?.();
    return this.ready;
  }

  /** Whether an event must wait for the machine (see the module comment). */
  async #needsMachine(room: Room, event: ClientEvent): Promise<boolean> {
    if (event.type === "m.room.encrypted" || isVerificationEvent(event)) return true;
    try {
      return (await this.encryptionOf(room.roomId)) !== undefined;
    } catch {
      // Cannot tell: fail closed.
      return true;
    }
  }

  /** Feeds the queued batches in order; a batch that came meanwhile joins the queue and is fed too. */
  async #drain(crypto: BotCrypto): Promise<void> {
    for (let next = this.#queue[0]; next; next = this.#queue[0]) {
      if (this.#closed) throw new Error("the bot stopped before the crypto machine caught up");
      try {
        await crypto.beforeBatch(next.response, next.initial);
      } catch (error) {
        // The position stays before this batch and every later one: it comes again after a restart.
        for (const queued of this.#queue.splice(0)) queued.failed(error);
        throw error;
      }
      this.#queue.shift();
      next.consumed();
    }
    if (this.#closed) throw new Error("the bot stopped before the crypto machine caught up");
    this.#crypto = crypto;
  }

  /**
   * Stops feeding (the queued batches are left unfed: their tokens are not saved, so they come
   * again) and fails whatever waits for the machine; returns at once.
   */
  abandon(): void {
    if (this.#crypto || this.#closed) return;
    this.#closed = true;
    this.setUp?.fire();
    this.#fail(new Error("the bot stopped before end-to-end encryption was ready"));
  }

  /**
   * {@link abandon}, then waits for the opening and the feeding and closes the machine if it
   * opened (closing it twice is harmless, so the bot may close a machine it was handed too).
   */
  async close(): Promise<void> {
    this.abandon();
    await this.#fed;
    const opened = await this.#opening.catch(() => undefined);
    await opened?.close();
  }
}
