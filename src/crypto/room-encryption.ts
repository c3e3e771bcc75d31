/**
 * Whether a room is encrypted, decided fail-closed for every outgoing event
 * (messages and attachments alike).
 *
 * Synced state answers for the rooms sync has shown. A room the bot created
 * with encryption counts as encrypted from the moment `createRoom` returns
 * (sync may show it only later), and that is persisted at once. For any other
 * room the bot has no state for, one state lookup decides; only a definite
 * "no such state event" (404 `M_NOT_FOUND`) means plaintext. Anything else
 * refuses with {@link EncryptionStateUnknownError}.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { EncryptionContent } from "../api/events.js";
import { MatrixError } from "../api/errors.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { MEGOLM_ALGORITHM } from "../sync/room.js";
import type { RoomTracker } from "../sync/tracker.js";
import { EncryptionStateUnknownError } from "./errors.js";

/** What {@link RoomEncryption} needs from the bot (a `NioBot` is one). */
export interface RoomEncryptionHost {
  readonly api: MatrixApi;
  readonly store: Store;
  readonly rooms: RoomTracker;
  readonly log: Logger;
}

const KEY_PREFIX = "e2ee.encryptedRoom.";
/** How long a lookup's "not encrypted" answer stands for a room sync has not shown yet. */
const PLAIN_TRUST_MS = 60_000;

/** Encryption state of rooms outside synced state, and the one lookup every send path uses. */
export class RoomEncryption {
  /** Rooms known to be encrypted without sync having said so (created or looked up). */
  readonly #known = new Map<string, EncryptionContent>();
  /** Rooms whose persisted flag was read already, so a store read happens once per room. */
  readonly #readFromStore = new Set<string>();
  readonly #lookups = new Map<string, Promise<EncryptionContent | undefined>>();
  /** Rooms a lookup found unencrypted, until when: a burst into a room sync has not shown yet costs one lookup, not one per send. */
  readonly #plainUntil = new Map<string, number>();

  constructor(private readonly host: RoomEncryptionHost) {}

  /**
   * Records that a room is encrypted (the bot created it with encryption):
   * in memory at once, then persisted, so neither a send before the next sync
   * nor one after a restart can go out in plaintext.
   */
  async markEncrypted(roomId: string, content: EncryptionContent = { algorithm: MEGOLM_ALGORITHM }): Promise<void> {
    const settings = typeof content.algorithm === "string" ? content : { ...content, algorithm: MEGOLM_ALGORITHM };
    this.#known.set(roomId, settings);
    this.#readFromStore.add(roomId);
    this.#plainUntil.delete(roomId);
    await this.host.store.setValue(KEY_PREFIX + roomId, JSON.stringify(settings));
  }

  /**
   * The room's encryption settings, or undefined when it is definitely not
   * encrypted.
   *
   * @throws {@link EncryptionStateUnknownError} when the state cannot be told.
   */
  async settingsOf(roomId: string, options: { signal?: AbortSignal } = {}): Promise<EncryptionContent | undefined> {
    const room = this.host.rooms.rooms.get(roomId);
    if (room?.isEncrypted) return room.encryption;
    // A room whose stored flag was read already costs no await (every send asks).
    const known = this.#known.get(roomId) ?? (this.#readFromStore.has(roomId) ? undefined : await this.#stored(roomId));
    if (known) return known;
    // A joined room's state came with sync (the full state on join): no lookup, so a reply costs only the reply.
    if (room?.membership === "join") return undefined;
    const plainUntil = this.#plainUntil.get(roomId);
    if (plainUntil !== undefined && Date.now() < plainUntil) return undefined;
    let lookup = this.#lookups.get(roomId);
    if (!lookup) {
      lookup = this.#lookup(roomId, options.signal).finally(() => this.#lookups.delete(roomId));
      this.#lookups.set(roomId, lookup);
    }
    return lookup;
  }

  /**
   * {@link RoomEncryption.settingsOf} when it can answer without waiting (every send to a joined
   * room once its stored flag was read): the settings, undefined when the room is definitely not
   * encrypted, or null when only `settingsOf` can tell.
   */
  settingsNow(roomId: string): EncryptionContent | undefined | null {
    const room = this.host.rooms.rooms.get(roomId);
    if (room?.isEncrypted) return room.encryption;
    const known = this.#known.get(roomId);
    if (known) return known;
    return this.#readFromStore.has(roomId) && room?.membership === "join" ? undefined : null;
  }

  async #stored(roomId: string): Promise<EncryptionContent | undefined> {
    if (this.#readFromStore.has(roomId)) return undefined;
    const raw = await this.host.store.getValue(KEY_PREFIX + roomId);
    this.#readFromStore.add(roomId);
    if (raw === undefined) return undefined;
    let settings: EncryptionContent = { algorithm: MEGOLM_ALGORITHM };
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (parsed && typeof parsed === "object" && typeof (parsed as EncryptionContent).algorithm === "string") settings = parsed as EncryptionContent;
    } catch {
      // A damaged flag still says "encrypted": keep the default settings.
    }
    this.#known.set(roomId, settings);
    return settings;
  }

  async #lookup(roomId: string, signal: AbortSignal | undefined): Promise<EncryptionContent | undefined> {
    let content: Record<string, unknown>;
    try {
      content = await this.host.api.rooms.getState(roomId, "m.room.encryption", "", signal ? { signal } : {});
    } catch (error) {
      if (error instanceof MatrixError && error.status === 404 && error.errcode === "M_NOT_FOUND") {
        // Trusted briefly: sync shows the room soon, and from then on its state decides.
        this.#plainUntil.set(roomId, Date.now() + PLAIN_TRUST_MS);
        return undefined;
      }
      throw new EncryptionStateUnknownError(roomId, error);
    }
    // Any encryption event, even one without an algorithm (redacted), means the room was encrypted for good.
    const settings = typeof content.algorithm === "string" ? (content as unknown as EncryptionContent) : { algorithm: MEGOLM_ALGORITHM };
    try {
      await this.markEncrypted(roomId, settings);
    } catch (error) {
      // Remembered in memory for this run; sync state covers a restart.
      this.host.log.warn({ roomId, error: (error as Error).message }, "could not persist that a room is encrypted");
    }
    return settings;
  }
}
