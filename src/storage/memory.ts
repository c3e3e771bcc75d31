import { slotDelete, slotPut, slotValues, type StateSlots } from "./state-slots.js";
import {
  EFFECTS_KEPT,
  HANDLED_EVENTS_KEPT,
  type Store,
  type KvListOptions,
  type StoreChange,
  type StoredKvEntry,
  type StoredLogin,
  type StoredPendingEvent,
  type StoredRoomInfo,
  type StoredRooms,
} from "./store.js";

/**
 * A store that lives in memory: nothing survives a restart. The default when
 * no `storePath` is given; fine for tests and throwaway bots.
 */
export class MemoryStore implements Store {
  #token: string | undefined;
  #login: StoredLogin | undefined;
  readonly #handled = new Set<string>();
  #oldestHandled: IterableIterator<string> | undefined;
  readonly #values = new Map<string, string>();
  readonly #pending = new Map<string, StoredPendingEvent>();
  readonly #effects = new Map<string, string>();
  /**
   * Per room: its membership and summary, state and account data. The records are the very objects the room
   * tracker holds (never mutated, only replaced), not copies, so a bot without a store keeps
   * each state event once; the state in a small array while the room has few events (`state-slots.ts`).
   */
  readonly #rooms = new Map<string, MemoryRoom>();
  /** Bot data: namespace → key → entry. */
  readonly #kv = new Map<string, Map<string, StoredKvEntry>>();
  /** Global account data by type. */
  readonly #accountData = new Map<string, Record<string, unknown>>();

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async getSyncToken(): Promise<string | undefined> {
    return this.#token;
  }

  async commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void> {
    for (const change of changes) {
      if (change.kind === "room") {
        if (change.info) {
          // The two fields, not the change's info object: one object per room fewer.
          const room = this.#room(change.roomId);
          room.membership = change.info.membership;
          room.summary = change.info.summary;
        }
        else this.#rooms.delete(change.roomId);
      } else if (change.kind === "state") {
        if (change.event) {
          const room = this.#room(change.roomId);
          room.state = slotPut(room.state, change.event);
        } else {
          const room = this.#rooms.get(change.roomId);
          if (room) room.state = slotDelete(room.state, change.type, change.stateKey);
        }
      } else if (change.roomId === undefined) {
        if (change.content) this.#accountData.set(change.type, change.content);
        else this.#accountData.delete(change.type);
      } else {
        if (change.content) (this.#room(change.roomId).accountData ??= new Map()).set(change.type, change.content);
        else this.#rooms.get(change.roomId)?.accountData?.delete(change.type);
      }
    }
    if (token !== undefined) this.#token = token;
  }

  #room(roomId: string): MemoryRoom {
    let room = this.#rooms.get(roomId);
    if (room === undefined) this.#rooms.set(roomId, (room = {}));
    return room;
  }

  async loadRooms(): Promise<StoredRooms> {
    const out: StoredRooms = { rooms: [], state: [], accountData: [] };
    for (const [type, content] of this.#accountData) out.accountData.push({ roomId: undefined, type, content });
    for (const [roomId, room] of this.#rooms) {
      if (room.membership !== undefined) out.rooms.push(room.summary === undefined ? { roomId, membership: room.membership } : { roomId, membership: room.membership, summary: room.summary });
      for (const event of slotValues(room.state)) out.state.push({ ...event, roomId });
      for (const [type, content] of room.accountData ?? []) out.accountData.push({ roomId, type, content });
    }
    return out;
  }

  async isHandled(eventId: string): Promise<boolean> {
    return this.#handled.has(eventId);
  }

  isHandledNow(eventId: string): boolean {
    return this.#handled.has(eventId);
  }

  async markHandled(eventId: string): Promise<void> {
    this.#handled.add(eventId);
    if (this.#handled.size > HANDLED_EVENTS_KEPT) {
      // Sets iterate in insertion order, so the next one is the oldest. One long-lived iterator:
      // a fresh one would walk over every slot deleted so far at the front of the table.
      let oldest = this.#oldestHandled?.next();
      if (oldest === undefined || oldest.done === true) oldest = (this.#oldestHandled = this.#handled.values()).next();
      if (oldest.done !== true) this.#handled.delete(oldest.value);
    }
  }

  async getLogin(): Promise<StoredLogin | undefined> {
    return this.#login;
  }

  async setLogin(login: StoredLogin | undefined): Promise<void> {
    this.#login = login;
  }

  async putPendingEvent(event: StoredPendingEvent): Promise<void> {
    this.#pending.delete(event.eventId);
    this.#pending.set(event.eventId, { ...event });
  }

  async deletePendingEvents(eventIds: readonly string[]): Promise<void> {
    for (const id of eventIds) this.#pending.delete(id);
  }

  async loadPendingEvents(): Promise<StoredPendingEvent[]> {
    // Maps iterate in insertion order: oldest first.
    return [...this.#pending.values()].map((e) => ({ ...e }));
  }

  // --- Bot data (`bot.kv`) ---

  async kvGet(namespace: string, key: string): Promise<StoredKvEntry | undefined> {
    const entry = this.#kv.get(namespace)?.get(key);
    return entry === undefined ? undefined : { ...entry };
  }

  async kvSet(namespace: string, key: string, value: string, expiresAt: number | undefined): Promise<void> {
    let space = this.#kv.get(namespace);
    if (space === undefined) this.#kv.set(namespace, (space = new Map()));
    space.set(key, { key, value, expiresAt });
  }

  async kvDelete(namespace: string, key: string): Promise<boolean> {
    return this.#kv.get(namespace)?.delete(key) ?? false;
  }

  async kvList(namespace: string, options: KvListOptions = {}): Promise<StoredKvEntry[]> {
    const { prefix = "", after, limit = Infinity } = options;
    const space = this.#kv.get(namespace);
    if (space === undefined) return [];
    const keys = [...space.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0)).sort(compareKeys);
    return keys.slice(0, limit).map((k) => ({ ...space.get(k)! }));
  }

  async kvPurgeExpired(now: number): Promise<number> {
    let purged = 0;
    for (const space of this.#kv.values())
      for (const [key, entry] of space)
        if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
          space.delete(key);
          purged++;
        }
    return purged;
  }

  async getValue(key: string): Promise<string | undefined> {
    return this.#values.get(key);
  }

  async setValue(key: string, value: string | undefined): Promise<void> {
    if (value === undefined) this.#values.delete(key);
    else this.#values.set(key, value);
  }

  async getEffect(eventId: string, key: string): Promise<string | undefined> {
    return this.#effects.get(JSON.stringify([eventId, key]));
  }

  async setEffect(eventId: string, key: string, record: string | undefined): Promise<void> {
    const id = JSON.stringify([eventId, key]);
    if (record === undefined) {
      this.#effects.delete(id);
      return;
    }
    this.#effects.set(id, record);
    // Maps iterate in insertion order (an update keeps its place), so the first one is the oldest.
    if (this.#effects.size > EFFECTS_KEPT) {
      const oldest = this.#effects.keys().next().value;
      if (oldest !== undefined) this.#effects.delete(oldest);
    }
  }
}

/** What a {@link MemoryStore} keeps of one room; each part only once it has something. */
interface MemoryRoom {
  membership?: StoredRoomInfo["membership"];
  summary?: StoredRoomInfo["summary"];
  state?: StateSlots | undefined;
  accountData?: Map<string, Record<string, unknown>>;
}

/** Orders keys as SQLite's BINARY collation does (UTF-8 bytes, which is code point order). */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
