/**
 * The storage interface: what niobot must remember across restarts so that no
 * event is lost or handled twice and a restart reuses the same device.
 *
 * Three implementations ship: {@link MemoryStore}, {@link SqliteStore} and
 * `PostgresStore` (`./postgres/`). Methods are async so that a database
 * server can implement it.
 */
import type { CryptoSnapshotStore } from "./crypto-snapshot.js";

/** The login a restart reuses. Contains a secret: never log it. */
export interface StoredLogin {
  userId: string;
  deviceId: string;
  accessToken: string;
  homeserver: string;
  /** Renews the access token; absent when the server issues tokens that do not expire. */
  refreshToken?: string;
  /** When the access token expires (ms since the epoch); absent: it does not. */
  expiresAt?: number;
  /**
   * SHA-256 (hex, shortened) of the access token this login was first given
   * as. A restart with that same, by now refreshed and stale, token uses the
   * stored pair instead of the stale one.
   */
  origin?: string;
  /** Set for logins through an OAuth 2.0 authorization server: where tokens are refreshed. */
  oauth?: { issuer: string; clientId: string };
}

/** One tracked state event, reduced to what the bot reads. */
export interface StoredStateEvent {
  type: string;
  stateKey: string;
  sender: string;
  eventId: string;
  content: Record<string, unknown>;
}

/**
 * A state event's key within its room, for one flat map per room: the type alone for the
 * empty state key (the usual case; no string is built), else type, NUL and key. Tracked types
 * contain no NUL, so two events never share a key.
 */
export function stateRecordKey(type: string, stateKey: string): string {
  return stateKey === "" ? type : `${type}\u0000${stateKey}`;
}

/** The bot's own membership of a room, plus the lazy-loading summary. */
export interface StoredRoomInfo {
  roomId: string;
  membership: "join" | "invite" | "leave" | "ban" | "knock";
  summary?: { heroes?: string[]; joined?: number; invited?: number };
}

/** A change to persist with a sync batch. `undefined` value/event means "delete". */
export type StoreChange =
  | { kind: "room"; roomId: string; info: StoredRoomInfo | undefined }
  | { kind: "state"; roomId: string; type: string; stateKey: string; event: StoredStateEvent | undefined }
  | { kind: "accountData"; roomId: string | undefined; type: string; content: Record<string, unknown> | undefined };

/** Everything stored about rooms, loaded once at start. */
export interface StoredRooms {
  rooms: StoredRoomInfo[];
  state: (StoredStateEvent & { roomId: string })[];
  accountData: { roomId: string | undefined; type: string; content: Record<string, unknown> }[];
}

/** One undecryptable event parked until its room key arrives (one record per event). */
export interface StoredPendingEvent {
  eventId: string;
  roomId: string;
  sender: string;
  /** The megolm session whose key it waits for. */
  sessionId: string;
  /** When it was parked (ms since epoch). */
  since: number;
  /** The event itself, as JSON. */
  json: string;
}

/** One stored value of bot data (`bot.kv`, see `src/kv/`): JSON text plus its expiry. */
export interface StoredKvEntry {
  key: string;
  /** The value as JSON text. */
  value: string;
  /** When it expires (ms since epoch), or `undefined` for never. */
  expiresAt: number | undefined;
}

/** What {@link Store.kvList} returns: keys in ascending order, starting after `after`. */
export interface KvListOptions {
  /** Only keys that start with this. */
  prefix?: string;
  /** Only keys greater than this (for paging). */
  after?: string;
  /** At most this many entries. */
  limit?: number;
}

/** A niobot store. */
export interface Store {
  /** Opens the store; throws if another process holds it. */
  open(): Promise<void>;
  /** Releases the store. */
  close(): Promise<void>;

  /** The `next_batch` of the last fully handled sync, if any. */
  getSyncToken(): Promise<string | undefined>;
  /**
   * Saves a sync position together with the room and account data changes of
   * that batch, atomically: after a crash either all of it is there or none.
   * With no token (no batch fully handled yet) only the changes are saved.
   */
  commitSync(token: string | undefined, changes: readonly StoreChange[]): Promise<void>;
  /** Loads every stored room, state event and account data item. */
  loadRooms(): Promise<StoredRooms>;

  /** Whether an event's handlers already ran. */
  isHandled(eventId: string): Promise<boolean>;
  /**
   * Optional: {@link Store.isHandled} answered at once, for a store that can tell without waiting
   * (a lookup in memory or an embedded database): the check runs for every event, and a promise
   * and a turn of the event loop each time were a cost on every reply.
   */
  isHandledNow?(eventId: string): boolean;
  /** Records that an event's handlers ran (kept for the most recent events only). */
  markHandled(eventId: string): Promise<void>;

  /** The stored login, if any. */
  getLogin(): Promise<StoredLogin | undefined>;
  /** Stores (or with `undefined`, forgets) the login. */
  setLogin(login: StoredLogin | undefined): Promise<void>;

  /** Parks an undecryptable event (replacing one with the same id); writes only this event. */
  putPendingEvent(event: StoredPendingEvent): Promise<void>;
  /** Removes parked events (decrypted, expired, dropped). */
  deletePendingEvents(eventIds: readonly string[]): Promise<void>;
  /** Every parked event, oldest first. */
  loadPendingEvents(): Promise<StoredPendingEvent[]>;

  // --- Bot data (`bot.kv`, src/kv/): namespaced JSON values written by bot code. ---
  /** One value, expired or not (the caller decides). */
  kvGet(namespace: string, key: string): Promise<StoredKvEntry | undefined>;
  /** Sets a value (JSON text), replacing any previous one. */
  kvSet(namespace: string, key: string, value: string, expiresAt: number | undefined): Promise<void>;
  /** Deletes a value; whether there was one. */
  kvDelete(namespace: string, key: string): Promise<boolean>;
  /** A namespace's values in ascending key order, expired ones included. */
  kvList(namespace: string, options?: KvListOptions): Promise<StoredKvEntry[]>;
  /** Deletes every value (all namespaces) that expired at or before `now`; how many. */
  kvPurgeExpired(now: number): Promise<number>;

  /** A small key-value space for other layers (crypto, DMs). */
  getValue(key: string): Promise<string | undefined>;
  /** Sets or (with `undefined`) deletes a value. */
  setValue(key: string, value: string | undefined): Promise<void>;

  /**
   * The record `ctx.once(key, …)` left for an event (opaque text written by
   * `src/delivery/once.ts`), if it is still kept.
   */
  getEffect(eventId: string, key: string): Promise<string | undefined>;
  /**
   * Writes (or with `undefined`, deletes) the record of `ctx.once(key, …)` for an event,
   * before returning (a killed process keeps it). Only the most recent {@link EFFECTS_KEPT} records are kept.
   */
  setEffect(eventId: string, key: string, record: string | undefined): Promise<void>;

  /**
   * Where the crypto store persists, for a store that keeps it itself
   * (PostgreSQL); absent: a file beside the store (`<storePath>.crypto`) or memory.
   */
  cryptoSnapshots?(): CryptoSnapshotStore;
}

/** How many handled event ids a store keeps: enough to cover any batch replayed after a crash. */
export const HANDLED_EVENTS_KEPT = 5000;

/**
 * How many `ctx.once` records a store keeps: as many as handled event ids, since a record only
 * matters while its event may still be replayed.
 */
export const EFFECTS_KEPT = HANDLED_EVENTS_KEPT;
