/**
 * What the bot knows about one room: its own membership, the few state
 * events the features need, the lazy-loading member summary and room account
 * data. Deliberately not a full state mirror, so memory grows with use.
 */
import type {
  CreateContent,
  EncryptionContent,
  MemberContent,
  Membership,
  PowerLevelsContent,
  TombstoneContent,
} from "../api/events.js";
import { slotGet, slotPut, slotValues, type StateSlots } from "../storage/state-slots.js";
import type { StoredRoomInfo, StoredStateEvent } from "../storage/store.js";

/** State event types the bot tracks; everything else is passed through to handlers only. */
export const TRACKED_STATE_TYPES: ReadonlySet<string> = new Set([
  "m.room.member",
  "m.room.power_levels",
  "m.room.name",
  "m.room.canonical_alias",
  "m.room.encryption",
  "m.room.create",
  "m.room.tombstone",
  "m.room.join_rules",
]);

/** The one encryption algorithm the spec defines for rooms (`m.room.encryption`). */
export const MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2";

/** A room member as the bot last saw them. */
export interface RoomMember {
  userId: string;
  membership: Membership;
  displayName: string | undefined;
  isDirect: boolean;
  /** Who set this membership (the inviter, for invites). */
  sender: string;
}

/** A room the bot is in, invited to, or was in. Read-only for bot code. */
export class Room {
  /** The bot's own membership. */
  membership: StoredRoomInfo["membership"];
  /** Lazy-loading summary from sync (counts over the whole room, not just loaded members). */
  summary: { heroes?: string[]; joined?: number; invited?: number } = {};
  /**
   * Tracked state, all types together: a small array for the few events most rooms have, a map
   * once there are more (`state-slots.ts`). Not a map per type, nor a map for four events: a map
   * costs about 230 bytes, times every room.
   */
  #state: StateSlots | undefined;
  /** Room account data by type, made on first use: most rooms never have any. */
  #accountData: Map<string, Record<string, unknown>> | undefined;

  constructor(
    readonly roomId: string,
    membership: StoredRoomInfo["membership"],
  ) {
    this.membership = membership;
  }

  /** @internal room account data by type. */
  get accountData(): Map<string, Record<string, unknown>> {
    return (this.#accountData ??= new Map());
  }

  /** @internal Stores a tracked state event (the tracker's job: it also records the change for the store). */
  putState(event: StoredStateEvent): void {
    this.#state = slotPut(this.#state, event);
  }

  /** @internal The tracked state events of one type, by state key. */
  stateOfType(type: string): Map<string, StoredStateEvent> {
    const out = new Map<string, StoredStateEvent>();
    for (const event of slotValues(this.#state)) if (event.type === type) out.set(event.stateKey, event);
    return out;
  }

  /** @internal The types with tracked state, each once. */
  stateTypes(): string[] {
    return [...new Set([...slotValues(this.#state)].map((e) => e.type))];
  }

  /** A tracked state event's content, or undefined. */
  getState<C = Record<string, unknown>>(type: string, stateKey = ""): C | undefined {
    return slotGet(this.#state, type, stateKey)?.content as C | undefined;
  }

  /** The full stored state event (sender, event id), or undefined. */
  getStateEvent(type: string, stateKey = ""): StoredStateEvent | undefined {
    return slotGet(this.#state, type, stateKey);
  }

  /** The room's name, if it has one. */
  get name(): string | undefined {
    const name = this.getState<{ name?: unknown }>("m.room.name")?.name;
    return typeof name === "string" && name !== "" ? name : undefined;
  }

  /** `m.room.create` content (with the room creator), if known. */
  get create(): (CreateContent & { sender?: string }) | undefined {
    const event = this.getStateEvent("m.room.create");
    return event ? { ...(event.content as CreateContent), sender: event.sender } : undefined;
  }

  /** `m.room.power_levels` content, if known. */
  get powerLevels(): PowerLevelsContent | undefined {
    return this.getState<PowerLevelsContent>("m.room.power_levels");
  }

  /**
   * `m.room.encryption` content when the room is encrypted. Any encryption
   * state event counts, even one without an algorithm (a redacted one keeps
   * no content): encryption cannot be turned off, so such a room is treated
   * as megolm-encrypted rather than as plaintext.
   */
  get encryption(): EncryptionContent | undefined {
    const content = this.getState<EncryptionContent>("m.room.encryption");
    if (!content) return undefined;
    return typeof content.algorithm === "string" ? content : { algorithm: MEGOLM_ALGORITHM };
  }

  /** Whether the room is end-to-end encrypted (encryption can never be turned off). */
  get isEncrypted(): boolean {
    return this.encryption !== undefined;
  }

  /** The room this one was upgraded to, if it was tombstoned. */
  get tombstone(): TombstoneContent | undefined {
    const content = this.getState<TombstoneContent>("m.room.tombstone");
    return content && typeof content.replacement_room === "string" ? content : undefined;
  }

  /** A loaded member, or undefined (with lazy loading not every member is loaded). */
  member(userId: string): RoomMember | undefined {
    const event = this.getStateEvent("m.room.member", userId);
    if (!event) return undefined;
    const content = event.content as Partial<MemberContent>;
    return {
      userId,
      membership: (content.membership ?? "leave") as Membership,
      displayName: typeof content.displayname === "string" ? content.displayname : undefined,
      isDirect: content.is_direct === true,
      sender: event.sender,
    };
  }

  /** Every loaded member (optionally only those with the given memberships). */
  members(...memberships: Membership[]): RoomMember[] {
    const out: RoomMember[] = [];
    for (const event of slotValues(this.#state)) {
      if (event.type !== "m.room.member") continue;
      const member = this.member(event.stateKey);
      if (member && (memberships.length === 0 || memberships.includes(member.membership))) out.push(member);
    }
    return out;
  }

  /** Display name of a member, falling back to the user id. */
  displayName(userId: string): string {
    return this.member(userId)?.displayName ?? userId;
  }

  /** Room account data content of a type, if any. */
  getAccountData<C = Record<string, unknown>>(type: string): C | undefined {
    return this.#accountData?.get(type) as C | undefined;
  }
}
