/**
 * Full member lists of encrypted rooms. The sync filter lazy-loads members,
 * so the bot's room state may lack members who never spoke; a room key must
 * still reach all of them. The list is fetched once per room (at the first
 * encrypted send) and then kept current from the member events of each sync.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { ClientEvent } from "../api/events.js";
import type { SyncResponse } from "../api/types.js";

/** Memberships that receive room keys: joined users, and invited ones (they may read after joining). */
function receivesKeys(membership: unknown): boolean {
  return membership === "join" || membership === "invite";
}

/** Member lists of encrypted rooms, by room id. */
export class EncryptedRoomMembers {
  readonly #members = new Map<string, Set<string>>();
  readonly #loading = new Map<string, { promise: Promise<Set<string>>; changes: [string, boolean][] }>();

  constructor(private readonly api: MatrixApi) {}

  /**
   * Applies the member events of a sync batch to the cached lists. Returns
   * the users of encrypted rooms whose devices must be tracked, and whether
   * the batch touched an encrypted room at all (so the caller can leave key
   * queries for later when it did not). Unencrypted rooms cost one lookup each.
   */
  observe(response: SyncResponse, isEncrypted: (roomId: string) => boolean): { track: string[]; encryptedActivity: boolean } {
    const track = new Set<string>();
    let encryptedActivity = false;
    for (const [roomId, joined] of Object.entries(response.rooms?.join ?? {})) {
      const state = (joined.state?.events ?? []) as ClientEvent[];
      const timeline = (joined.timeline?.events ?? []) as ClientEvent[];
      const turnsOn = (e: ClientEvent): boolean => e.type === "m.room.encryption" && e.state_key === "";
      if (!isEncrypted(roomId) && !state.some(turnsOn) && !timeline.some(turnsOn)) continue;
      encryptedActivity = true;
      for (const events of [state, timeline])
        for (const event of events) {
          if (event.type !== "m.room.member" || typeof event.state_key !== "string") continue;
          const member = receivesKeys((event.content as { membership?: unknown }).membership);
          if (member) track.add(event.state_key);
          this.#apply(roomId, event.state_key, member);
        }
    }
    for (const roomId of Object.keys(response.rooms?.leave ?? {})) this.forget(roomId);
    return { track: [...track], encryptedActivity };
  }

  #apply(roomId: string, userId: string, member: boolean): void {
    this.#loading.get(roomId)?.changes.push([userId, member]);
    const set = this.#members.get(roomId);
    if (!set) return;
    if (member) set.add(userId);
    else set.delete(userId);
  }

  /** Whether the full list of a room is loaded. */
  has(roomId: string): boolean {
    return this.#members.has(roomId);
  }

  /** The users who must receive the room's keys; fetched from the server the first time. */
  async get(roomId: string): Promise<string[]> {
    const known = this.#members.get(roomId);
    if (known) return [...known];
    let loading = this.#loading.get(roomId);
    if (!loading) {
      const entry = { changes: [] as [string, boolean][], promise: Promise.resolve(new Set<string>()) };
      entry.promise = this.#fetch(roomId).then(
        (set) => {
          // Member events that arrived during the request are newer than its answer.
          for (const [userId, member] of entry.changes) {
            if (member) set.add(userId);
            else set.delete(userId);
          }
          this.#members.set(roomId, set);
          return set;
        },
      ).finally(() => this.#loading.delete(roomId));
      this.#loading.set(roomId, entry);
      loading = entry;
    }
    return [...(await loading.promise)];
  }

  async #fetch(roomId: string): Promise<Set<string>> {
    const { chunk } = await this.api.rooms.members(roomId, { not_membership: "leave" });
    const set = new Set<string>();
    for (const event of chunk)
      if (receivesKeys((event.content as { membership?: unknown }).membership)) set.add(event.state_key);
    return set;
  }

  /** Drops a room's list (the bot left it). */
  forget(roomId: string): void {
    this.#members.delete(roomId);
  }
}
