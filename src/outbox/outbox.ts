/**
 * The outbox: the one way a room event leaves the bot. Every message, reply, edit, reaction,
 * attachment and redaction is queued here per room, encrypted when the room is (fail closed),
 * given its transaction id and sent; the hooks registered by the layers above (the message
 * cache, read receipts) hear about each accepted event. It sits below messaging and looks only
 * down: the API, the delivery rules and the crypto layer's error.
 *
 * @module
 */
import { newTxnId, type MatrixApi } from "../api/client.js";
import type { EncryptionContent } from "../api/events.js";
import { EncryptionRequiredError } from "../crypto/errors.js";
import { scopedTxnId } from "../delivery/txn.js";
import { KeyedMutex } from "../util/async.js";

/** An event the server accepted, as the bot meant it (before encryption). */
export interface SentEvent {
  readonly roomId: string;
  readonly eventId: string;
  /** `m.room.message`, `m.reaction`, `m.room.redaction`, ... (never `m.room.encrypted` unless sent so). */
  readonly type: string;
  readonly content: Record<string, unknown>;
}

/**
 * Runs when a send leaves the queue for the server; the function it returns runs once the
 * server accepted the event (it is not called when the send failed).
 */
export type SendHook = (roomId: string) => (sent: SentEvent) => void;

/** What encrypts a room event (the running crypto machine). */
export interface OutboxEncrypter {
  encrypt(room: { roomId: string; encryption: EncryptionContent }, eventType: string, content: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** What the outbox needs from the bot. */
export interface OutboxHost {
  /** The client-server API (asked at each send: it exists once the bot started). */
  api(): Pick<MatrixApi, "rooms">;
  /**
   * The room's encryption settings, undefined when it is definitely not encrypted;
   * throws when that cannot be told (nothing is sent then).
   */
  roomEncryption(roomId: string): Promise<EncryptionContent | undefined>;
  /**
   * The same answer when it is known without waiting, null otherwise (then `roomEncryption`
   * decides). Optional: a send to a room known to be unencrypted then costs no wait.
   */
  roomEncryptionNow?(roomId: string): EncryptionContent | undefined | null;
  /** The encrypter, or undefined while the bot runs without encryption. */
  encrypter(): OutboxEncrypter | undefined;
}

/**
 * The per-room send queue. Sends to one room go out one at a time in call order, so a burst
 * arrives in order even while the server rate-limits it (the transport waits out a 429 and
 * repeats the request with the same transaction id); rooms do not wait for each other.
 *
 * The transaction id is taken when the send is called: inside a command context's send it is
 * derived from the invoking event (`src/delivery/`), so a replay after a crash is deduplicated
 * by the homeserver; anywhere else it is fresh.
 */
export class Outbox {
  readonly #queue = new KeyedMutex();
  readonly #hooks = new Set<SendHook>();

  constructor(private readonly host: OutboxHost) {}

  /** Adds a hook run around every accepted send; returns a function that removes it. */
  onSend(hook: SendHook): () => void {
    this.#hooks.add(hook);
    return () => void this.#hooks.delete(hook);
  }

  /**
   * Sends a room event: queued behind earlier sends to the room, encrypted when the room is.
   * Returns the event id.
   *
   * @throws `EncryptionRequiredError` for an encrypted room while the bot runs without encryption,
   *   `EncryptionStateUnknownError` when it cannot tell whether the room is encrypted.
   */
  send(roomId: string, eventType: string, content: Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<string> {
    const txnId = scopedTxnId() ?? newTxnId();
    return this.#queue.run(roomId, async () => {
      const sent = this.#starting(roomId);
      // A room known to be unencrypted (nearly every send of a bot in plain rooms) needs no wait.
      // Without the optional method, null: the full check decides (fail closed).
      const plain = eventType !== "m.room.encrypted" && (this.host.roomEncryptionNow ? this.host.roomEncryptionNow(roomId) : null) === undefined;
      const [type, body] = plain ? [eventType, content] : await this.#encryptIfNeeded(roomId, eventType, content);
      const { event_id } = await this.host.api().rooms.send(roomId, type, body, { txnId, signal: options.signal });
      sent({ roomId, eventId: event_id, type: eventType, content });
      return event_id;
    });
  }

  /**
   * Redacts an event, in the room's queue like any send (redactions are never encrypted).
   * Returns the redaction's event id.
   */
  redact(roomId: string, eventId: string, reason?: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const txnId = scopedTxnId() ?? newTxnId();
    return this.#queue.run(roomId, async () => {
      const sent = this.#starting(roomId);
      const { event_id } = await this.host.api().rooms.redact(roomId, eventId, reason, { txnId, signal: options.signal });
      sent({ roomId, eventId: event_id, type: "m.room.redaction", content: { redacts: eventId, ...(reason === undefined ? {} : { reason }) } });
      return event_id;
    });
  }

  /** Rooms with sends queued or running. */
  get busyRooms(): number {
    return this.#queue.size;
  }

  #starting(roomId: string): (sent: SentEvent) => void {
    const done = [...this.#hooks].map((hook) => hook(roomId));
    return (sent) => {
      for (const d of done) d(sent);
    };
  }

  /** Encrypted rooms get `m.room.encrypted`; without crypto, or in doubt, nothing is sent rather than plaintext. */
  async #encryptIfNeeded(roomId: string, eventType: string, content: Record<string, unknown>): Promise<[string, Record<string, unknown>]> {
    if (eventType === "m.room.encrypted") return [eventType, content];
    const encryption = await this.host.roomEncryption(roomId);
    if (!encryption) return [eventType, content];
    const encrypter = this.host.encrypter();
    if (!encrypter) throw new EncryptionRequiredError(roomId);
    return ["m.room.encrypted", await encrypter.encrypt({ roomId, encryption }, eventType, content)];
  }
}
