/**
 * `Messenger`: everything a bot needs to talk, composed from the parts of
 * this folder. It owns composing, replying, editing, reacting and redacting;
 * every event it builds leaves through the outbox below it (`src/outbox/`),
 * whose sent hook feeds the message cache and read receipts. The bot owns one
 * and exposes its operations as its own methods (`bot.reply`, `bot.edit`, ...).
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { ClientEvent, MessageContent, MessageEvent, ReactionEvent, RedactionEvent } from "../api/events.js";
import type { ErrorContext } from "../core/errors.js";
import { buildEditContent, buildReactionContent, withEmojiPresentation, type EditOptions, type MessageOptions } from "../content/message.js";
import { DEFAULT_MSGTYPE, type Mentions, type MessageType } from "../content/types.js";
import type { Outbox } from "../outbox/outbox.js";
import type { Room } from "../sync/room.js";
import type { RoomTracker } from "../sync/tracker.js";
import { MessageCache } from "./cache.js";
import { composeMessage, replyMessageOptions, type ReplyOptions, type Sendable } from "./compose.js";
import { LruMap } from "./lru.js";
import { ReadReceipts, type AutoReadReceipts, type MarkReadOptions } from "./receipts.js";
import { OwnReactions, findReaction } from "./reactions.js";
import { currentContent, editOf, reactionOf, redactedIdOf, relationType, threadRootOf, type RelationEmit } from "./relations.js";
import { TypingIndicator, type TypingOptions } from "./typing.js";

/** Thrown by `edit` for an event the bot may not (or cannot) edit. */
export class EditRefusedError extends Error {
  override readonly name = "EditRefusedError";
  constructor(readonly roomId: string, readonly eventId: string, reason: string) {
    super(`refusing to edit ${eventId} in ${roomId}: ${reason}`);
  }
}

/** Options of the messaging layer (the bot passes its own). */
export interface MessagingOptions {
  /** Message type of text sent without an explicit `msgtype` (default `m.notice`). */
  defaultMsgtype?: MessageType;
  /** See {@link AutoReadReceipts}; default `true`. */
  autoReadReceipts?: AutoReadReceipts;
  /** Events kept in the message cache (default 1000; 0 disables it). */
  messageCacheSize?: number;
  /** Default timing of `typing`. */
  typing?: TypingOptions;
}

/** What the messaging layer needs from the bot. */
export interface MessagingHost {
  readonly api: MatrixApi;
  readonly userId: string;
  readonly rooms: RoomTracker;
  reportError(error: unknown, context: ErrorContext): void;
}

/** What {@link Messenger.incoming} tells the bot about a timeline event. */
export interface IncomingEvent {
  /** A typed event to emit (`edit`, `reaction`, `redaction`), if the event is one. */
  related: RelationEmit | undefined;
  /** Call once every listener of the event finished. */
  done(): void;
}

/** A message the outbox accepted: its event id and the content as sent (before encryption). */
export interface SentMessage {
  readonly eventId: string;
  readonly content: Record<string, unknown>;
}

/**
 * @internal The bot's messaging layer; bot authors use the bot's methods
 * (`bot.sendMessage`, `bot.reply`, `bot.edit`, `bot.redact`, `bot.react`, ...).
 */
export class Messenger {
  /** The bounded cache of recent events (what `fetchMessage` reads first). */
  readonly cache: MessageCache;
  /** Automatic and explicit read receipts. */
  readonly receipts: ReadReceipts;
  readonly #typing: TypingIndicator;
  readonly #reactions = new OwnReactions();
  /** Latest known event of each thread, for the reply fallback of thread messages. */
  readonly #threads = new LruMap<string, string>(1000);

  /**
   * @param outbox - the one outgoing path: every event built here is sent (and every redaction
   *   made) through it, and its sent hook feeds the message cache and read receipts.
   */
  constructor(private readonly host: MessagingHost, private readonly outbox: Outbox, private readonly options: MessagingOptions = {}) {
    this.cache = new MessageCache(options.messageCacheSize);
    this.receipts = new ReadReceipts({
      mode: options.autoReadReceipts ?? true,
      send: async (roomId, eventId, o) => {
        await host.api.rooms.receipt(roomId, eventId, o.private === true ? "m.read.private" : "m.read", o.threadId);
      },
      onError: (error, roomId) => host.reportError(error, { source: "readReceipt", room: host.rooms.rooms.get(roomId) }),
    });
    this.#typing = new TypingIndicator(
      async (roomId, typing, timeoutMs) => {
        await host.api.rooms.typing(roomId, host.userId, typing, timeoutMs);
      },
      (error, roomId) => host.reportError(error, { source: "typing", room: host.rooms.rooms.get(roomId) }),
      options.typing,
    );
    outbox.onSend((roomId) => {
      const sent = this.receipts.beforeSend(roomId);
      return ({ eventId, type, content }) => {
        sent();
        // The sync echo may have come first; it is the better copy.
        if (this.cache.has(eventId)) return;
        this.#observe({ event_id: eventId, type, sender: host.userId, origin_server_ts: Date.now(), content, room_id: roomId }, true);
      };
    });
  }

  /** The message type of text sent without one: the `defaultMsgtype` option, else `m.notice`. The one place this is decided. */
  get defaultMsgtype(): MessageType {
    return this.options.defaultMsgtype ?? DEFAULT_MSGTYPE;
  }

  // ---- sending -----------------------------------------------------------

  /**
   * The `m.room.message` content the bot sends for `content` and `options`:
   * text is built with the bot's default msgtype and never mentions the bot
   * itself; objects are sent as given, plus relations/mentions/override (see `composeMessage`).
   */
  compose(content: Sendable, options: MessageOptions = {}): Record<string, unknown> {
    return composeMessage(content, options, { msgtype: this.defaultMsgtype, ownUserId: this.host.userId });
  }

  /** Sends a message built by {@link Messenger.compose}; returns its event id and the content sent. */
  async send(roomId: string, content: Sendable, options: MessageOptions = {}): Promise<SentMessage> {
    const body = this.compose(content, options);
    return { eventId: await this.outbox.send(roomId, "m.room.message", body), content: body };
  }

  /** Answers an event: a rich reply that stays in the event's thread, or per `options.thread` (see {@link ReplyOptions}). */
  async reply(event: Pick<ClientEvent, "event_id" | "sender" | "content" | "room_id">, content: Sendable, options: ReplyOptions = {}): Promise<SentMessage> {
    return this.send(event.room_id, content, replyMessageOptions(event, options));
  }

  /**
   * Posts into the thread rooted at `rootId`. The reply fallback for
   * unthreaded clients points at the latest event of the thread the bot has
   * seen (or the root).
   */
  async sendThreadMessage(roomId: string, rootId: string, content: Sendable, options: Omit<MessageOptions, "thread"> = {}): Promise<SentMessage> {
    const latestEventId = this.#threads.get(`${roomId}\n${rootId}`) ?? rootId;
    return this.send(roomId, content, { ...options, thread: { rootId, latestEventId } });
  }

  /**
   * Edits one of the bot's own messages (`m.replace`). The original comes from
   * the cache or, if not cached, from the server; the edit is refused with
   * {@link EditRefusedError} if someone else sent it, or if it is not an
   * editable message (a state event, another type, or itself an edit). The
   * msgtype of the current version is kept unless `options.msgtype` is given,
   * and only users not mentioned before are notified.
   */
  async edit(roomId: string, eventId: string, text: string, options: EditOptions = {}): Promise<string> {
    const original = await this.fetchMessage(roomId, eventId);
    if (original.sender !== this.host.userId) throw new EditRefusedError(roomId, eventId, `it was sent by ${original.sender}, not by the bot (${this.host.userId})`);
    if (original.type !== "m.room.message" || original.state_key !== undefined) throw new EditRefusedError(roomId, eventId, `it is not a message (${original.type})`);
    if (relationType(original) === "m.replace") throw new EditRefusedError(roomId, eventId, "it is an edit itself; edit the original event");
    const current = currentContent(original) as Partial<MessageContent>;
    return (await this.editKnown(roomId, eventId, current, text, options)).eventId;
  }

  /**
   * Edits one of the bot's own messages whose current content the caller holds (a command's
   * response), without looking the original up. The current msgtype is kept unless
   * `options.msgtype` is given; users its `m.mentions` names are not notified again.
   */
  async editKnown(roomId: string, eventId: string, current: Partial<MessageContent>, text: string, options: EditOptions = {}): Promise<SentMessage> {
    const msgtype = current.msgtype === "m.text" || current.msgtype === "m.notice" || current.msgtype === "m.emote" ? current.msgtype : this.defaultMsgtype;
    const content = buildEditContent(eventId, text, { msgtype, previousMentions: current["m.mentions"] as Mentions | undefined, ...options, ownUserId: this.host.userId });
    const body = content as unknown as Record<string, unknown>;
    return { eventId: await this.outbox.send(roomId, "m.room.message", body), content: body };
  }

  /** Redacts an event, with an optional reason, in the room's send queue; returns the redaction's event id. */
  redact(roomId: string, eventId: string, reason?: string): Promise<string> {
    return this.outbox.redact(roomId, eventId, reason);
  }

  /**
   * Reacts to an event (an `m.annotation`); returns the reaction's event id.
   * Reacting twice with the same key is harmless: the existing reaction's id is returned.
   */
  async react(roomId: string, eventId: string, key: string): Promise<string> {
    const content = buildReactionContent(eventId, key);
    const normalised = content["m.relates_to"].key;
    try {
      return await this.outbox.send(roomId, "m.reaction", content as unknown as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof MatrixError && error.errcode === "M_DUPLICATE_ANNOTATION")) throw error;
      const existing = this.#reactions.get(roomId, eventId, normalised) ?? (await findReaction(this.host.api, roomId, eventId, normalised, this.host.userId));
      if (existing === undefined) throw error;
      this.#reactions.remember(roomId, eventId, normalised, existing);
      return existing;
    }
  }

  /**
   * Removes the bot's reaction `key` from an event by redacting its
   * `m.reaction`. The reaction's id is known if this process sent or saw it;
   * otherwise it is looked up through `/relations`. Returns false if the bot
   * had no such reaction.
   */
  async removeReaction(roomId: string, eventId: string, key: string, reason?: string): Promise<boolean> {
    const normalised = withEmojiPresentation(key);
    const reactionId = this.#reactions.get(roomId, eventId, normalised) ?? (await findReaction(this.host.api, roomId, eventId, normalised, this.host.userId));
    if (reactionId === undefined) return false;
    await this.redact(roomId, reactionId, reason);
    this.#reactions.forgetEvent(reactionId);
    return true;
  }

  /** Shows the bot as typing in `roomId` while `work` runs (see {@link TypingIndicator.run}). */
  typing<T>(roomId: string, work: () => T | Promise<T>, options?: TypingOptions): Promise<T> {
    return this.#typing.run(roomId, work, options);
  }

  /** Sends a read receipt now (`m.read`, or `m.read.private`; optionally threaded). */
  markRead(roomId: string, eventId: string, options?: MarkReadOptions): Promise<void> {
    return this.receipts.markRead(roomId, eventId, options);
  }

  // ---- reading -----------------------------------------------------------

  /**
   * An event of a room: from the cache, else `GET /rooms/{roomId}/event/{eventId}`
   * (then cached). Edits known to the bot are bundled under
   * `unsigned["m.relations"]["m.replace"]` as servers do; read the shown
   * content with `currentContent(event)`.
   *
   * @throws MatrixError `M_NOT_FOUND` if the event doesn't exist or the bot may not see it.
   */
  async fetchMessage(roomId: string, eventId: string): Promise<ClientEvent> {
    const cached = this.cache.get(roomId, eventId);
    if (cached !== undefined) return cached;
    const event = await this.host.api.rooms.event(roomId, eventId);
    // The cache keeps its own text of the event: the fetched object itself is the caller's copy.
    this.cache.put(event);
    return event;
  }

  // ---- hooks the bot calls ----------------------------------------------

  /**
   * @internal Called by the bot for each timeline event before its listeners
   * run: caches it, follows threads, edits, reactions and redactions, and
   * says which typed event to emit.
   */
  incoming(room: Room, event: ClientEvent): IncomingEvent {
    const own = event.sender === this.host.userId;
    const finished = this.receipts.arrived(room.roomId, event.event_id, own);
    const related = this.#observe(event, own);
    const countsAsHandled = this.receipts.mode === "messages" && !own && event.type === "m.room.message";
    return {
      related,
      done: () => {
        if (countsAsHandled) this.receipts.noteHandled(room.roomId, event.event_id);
        finished();
      },
    };
  }

  /**
   * Notes that the bot handled an event without answering it (the command router calls this for
   * each finished command), for the automatic read receipts.
   */
  noteHandled(roomId: string, eventId: string): void {
    this.receipts.noteHandled(roomId, eventId);
  }

  /** Sends pending receipts (the bot is stopping). */
  close(): Promise<void> {
    return this.receipts.close();
  }

  #observe(event: ClientEvent, own: boolean): RelationEmit | undefined {
    const root = threadRootOf(event);
    if (root !== undefined) this.#threads.set(`${event.room_id}\n${root}`, event.event_id);
    const reaction = reactionOf(event);
    if (reaction !== undefined) {
      if (own) this.#reactions.remember(event.room_id, reaction.targetEventId, reaction.key, event.event_id);
      return { name: "reaction", args: [event as unknown as ReactionEvent, reaction.key, reaction.targetEventId] };
    }
    const redacted = redactedIdOf(event);
    if (redacted !== undefined) {
      this.cache.delete(redacted);
      this.#reactions.forgetEvent(redacted);
      const reason = (event.content as { reason?: unknown }).reason;
      return { name: "redaction", args: [event as unknown as RedactionEvent, redacted, typeof reason === "string" ? reason : undefined] };
    }
    this.cache.put(event);
    const edit = editOf(event);
    // An edit that its cached original proves invalid (e.g. someone else
    // "editing" a message) is dropped, as the spec asks; originals not in the
    // cache are not fetched: no extra request per event.
    if (edit !== undefined && this.cache.applyEdit(edit.originalEventId, event)) {
      return { name: "edit", args: [event as unknown as MessageEvent, edit.newContent, edit.originalEventId] };
    }
    return undefined;
  }
}
