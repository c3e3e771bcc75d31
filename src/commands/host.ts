/**
 * What the commands layer needs from the bot, so that it does not import the bot (which sits
 * above it and imports it). `NioBot` satisfies {@link CommandHost}.
 *
 * Bot authors still see the whole bot in `ctx.bot` and in a module's `onMount(bot)`: the bot
 * layer widens {@link CommandBot} and {@link CommandBotEvents} to `NioBot` and its event map by
 * declaration merging (in `bot/bot.ts`). The code of this folder is written against
 * {@link CommandHost} alone.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { ClientEvent, MessageContent, MessageEvent } from "../api/events.js";
import type { AttachmentHost, AttachmentMessage } from "../attachments/index.js";
import type { MessageOptions } from "../content/message.js";
import type { ErrorContext } from "../core/errors.js";
import type { Kv } from "../kv/kv.js";
import type { Logger } from "../logging/logger.js";
import type { Messenger } from "../messaging/messenger.js";
import type { Store } from "../storage/store.js";
import type { Room } from "../sync/room.js";
import type { RoomTracker } from "../sync/tracker.js";
import type { DirectRoomSource } from "./direct.js";

/**
 * The bot's event map as the commands layer sees it: here the message event the router listens
 * to. `commands/events.ts` adds the command events and the bot layer its whole map, both by
 * declaration merging, so module listeners are typed for every bot event and this file need not
 * import the context (which imports it).
 */
export interface CommandBotEvents {
  /** Any `m.room.message` in a joined room (including the bot's own). */
  message: [room: Room, event: MessageEvent];
  /** The first sync finished (the command publisher starts here). */
  ready: [];
  /** Any event in a joined room (the publisher watches power levels and its own descriptions). */
  event: [room: Room, event: ClientEvent];
  /** The bot joined a room. */
  join: [room: Room];
  /** The bot stopped. */
  stopped: [];
}

/**
 * The bot as bot authors see it in `ctx.bot` and a module's hooks. Empty here: the bot layer
 * makes it `NioBot` by declaration merging. The commands layer itself uses {@link CommandHost}.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- widened by declaration merging
export interface CommandBot {}

/** The bot options the commands layer reads. */
export interface CommandHostOptions {
  /** The bot owner's user id, for the `isOwner` check. */
  readonly ownerId?: string;
  /** Message type of text the bot sends (default `m.notice`). */
  readonly defaultMsgtype?: "m.notice" | "m.text";
  /** How long a `room` or `event` command argument may spend resolving an alias. */
  readonly aliasLookupTimeoutMs?: number;
}

/** What the commands layer calls on the bot. `NioBot` implements it. */
export interface CommandHost extends AttachmentHost, DirectRoomSource {
  readonly userId: string;
  readonly options: AttachmentHost["options"] & CommandHostOptions;
  readonly log: Logger;
  readonly store: Store;
  readonly api: MatrixApi;
  /** The synced rooms and the state tracked for them. */
  readonly rooms: RoomTracker;
  getRoom(roomId: string): Room | undefined;
  /**
   * The messaging layer the command layer composes through: `ctx.respond` and `CommandResponse`
   * send and edit with it, and the router reports what it handled (for read receipts).
   */
  readonly messaging: Pick<Messenger, "send" | "reply" | "editKnown" | "noteHandled">;
  /** Milliseconds between an event being sent (by its server's clock) and now. */
  latency(event: Pick<ClientEvent, "origin_server_ts">): number;
  sendMessage(target: string, content: string | MessageContent | AttachmentMessage, options?: MessageOptions): Promise<string>;
  react(roomId: string, eventId: string, key: string): Promise<string>;
  redact(roomId: string, eventId: string, reason?: string): Promise<string>;
  kv<T>(namespace: string): Kv<T>;
  reportError(error: unknown, context: ErrorContext): void;
  on<K extends keyof CommandBotEvents & string>(name: K, listener: (...args: CommandBotEvents[K]) => unknown): () => void;
  emit<K extends keyof CommandBotEvents & string>(name: K, ...args: CommandBotEvents[K]): Promise<void>;
  listenerCount(name: keyof CommandBotEvents & string): number;
  waitForEvent<K extends keyof CommandBotEvents & string>(
    name: K,
    check?: (...args: CommandBotEvents[K]) => boolean | Promise<boolean>,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<CommandBotEvents[K]>;
}

/** `ctx.bot`: the whole bot for bot authors, the {@link CommandHost} for this layer. */
export type CommandBotHost = CommandBot & CommandHost;
