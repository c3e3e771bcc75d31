/**
 * Writes new entries into the `m.direct` account data without losing
 * anything: every write reads the current value from the server, adds the
 * pending rooms, and puts the result back, keeping other users' entries and
 * unknown keys. Writes are serialized, and additions that arrive while one
 * is in flight are batched into the next, so a burst of new DMs costs a few
 * read-write pairs instead of one per room.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { RoomTracker } from "../sync/tracker.js";
import { KeyedMutex } from "../util/async.js";
import { addDirectRoom } from "./mdirect.js";

/** The account data event type of direct rooms. */
export const M_DIRECT = "m.direct";

/** What the writer needs from the bot. */
export interface DirectWriterHost {
  readonly api: MatrixApi;
  readonly rooms: RoomTracker;
  readonly userId: string;
}

/** Serialized read-merge-write of `m.direct` (one per bot account). */
export class DirectWriter {
  readonly #host: DirectWriterHost;
  readonly #lock = new KeyedMutex();
  /** Additions not yet written, as `[userId, roomId]` keyed by both. */
  readonly #pending = new Map<string, [string, string]>();

  constructor(host: DirectWriterHost) {
    this.#host = host;
  }

  /** Whether some addition failed to be written and waits for a retry. */
  get hasPending(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * Records `roomId` as a DM with `userId`. Resolves once it is on the
   * server; on failure the addition stays pending and the next write retries it.
   */
  add(userId: string, roomId: string): Promise<void> {
    this.#pending.set(`${userId}\n${roomId}`, [userId, roomId]);
    return this.flush();
  }

  /** Writes whatever is pending (nothing when nothing is). */
  flush(): Promise<void> {
    return this.#lock.run(M_DIRECT, () => this.#write());
  }

  /** Resolves when every write queued so far has settled. */
  idle(): Promise<void> {
    return this.#lock.run(M_DIRECT, () => Promise.resolve());
  }

  /** The current `m.direct` content on the server; none yet reads as empty. */
  async read(): Promise<Record<string, unknown>> {
    const { api, userId } = this.#host;
    try {
      return await api.accountData.get(userId, M_DIRECT);
    } catch (error) {
      // Only the server's definite "never set" is empty; anything else must not be overwritten blindly.
      if (error instanceof MatrixError && error.status === 404 && error.errcode === "M_NOT_FOUND") return {};
      throw error;
    }
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending];
    let content = await this.read();
    let changed = false;
    for (const [, [userId, roomId]] of batch) {
      const next = addDirectRoom(content, userId, roomId);
      content = next.content;
      changed ||= next.changed;
    }
    if (changed) await this.#host.api.accountData.put(this.#host.userId, M_DIRECT, content);
    // The local copy follows at once, so reads don't wait for the sync to echo it.
    this.#host.rooms.setAccountData(M_DIRECT, content);
    for (const [key] of batch) this.#pending.delete(key);
  }
}
