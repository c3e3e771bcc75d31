/**
 * A person in a test: a real Matrix client (a minimal NioBot with no
 * commands, so encryption is niobot's own crypto stack) that sends what a
 * human would and waits for the bot's answers.
 */
import type { ClientEvent, MessageContent, MessageEvent } from "../api/events.js";
import type { FetchLike } from "../api/http.js";
import { Attachment } from "../attachments/attachment.js";
import { NioBot } from "../bot/bot.js";
import type { RegisteredUser } from "../devserver/register.js";
import { silentLogger } from "../logging/logger.js";
import { COMMAND_DESCRIPTION_EVENT_TYPE, COMMAND_INVOCATION_KEY } from "../commands/msc4391/schema.js";
import { DEFAULT_SYNC_FILTER } from "../sync/engine.js";
import { formatTranscript, textMatches, type SeenEvent } from "./transcript.js";

/** Options of a test person. */
export interface TestPersonOptions {
  /** Run end-to-end encryption (niobot's crypto, keys in memory); DMs they create are encrypted. Default false. */
  encrypted?: boolean;
  /** Display name to set. */
  displayName?: string;
}

/** Options of the `expect…` waits. */
export interface ExpectOptions {
  /** Only events from this sender (default: anyone but this person). */
  from?: string;
  /** How long to wait (default 20 s). */
  timeoutMs?: number;
  /** Abort the wait. */
  signal?: AbortSignal;
}

/** How to send a message: in a thread, or as a rich reply. */
export interface SayOptions {
  /** Root event id of the thread to post in. */
  thread?: string;
  /** The event to answer with a rich reply. */
  replyTo?: ClientEvent;
  /** Extra content fields, e.g. `{ format: "org.matrix.custom.html", formatted_body: "<b>hi</b>" }` (not with `thread`/`replyTo`). */
  content?: Record<string, unknown>;
}

/** A file to send with {@link TestPerson.sendFile}. */
export interface TestFile {
  bytes: Uint8Array;
  filename: string;
  mimetype?: string;
}

const FILE_MSGTYPES = new Set(["m.file", "m.image", "m.video", "m.audio"]);

/** The thread root of an event, if it is in a thread. */
export function threadRootOf(event: ClientEvent): string | undefined {
  const rel = event.content["m.relates_to"] as { rel_type?: unknown; event_id?: unknown } | undefined;
  return rel?.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
}

/** The event an event answers as a rich reply, if any. */
export function inReplyToOf(event: ClientEvent): string | undefined {
  const rel = event.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

function relationOf(event: ClientEvent): { rel_type?: string; event_id?: string; key?: string } | undefined {
  return event.content["m.relates_to"] as { rel_type?: string; event_id?: string; key?: string } | undefined;
}

function isEdit(event: ClientEvent): boolean {
  return relationOf(event)?.rel_type === "m.replace";
}

/**
 * A person with a client. Everything they receive is recorded per room, and
 * every `expect…` looks at what arrived after this person's last action in
 * that room (`say`, `react`, `edit`, `sendFile`, or the previous `expect`).
 */
export class TestPerson {
  /** The client: a NioBot without commands (its API, crypto, `sendMessage`, `download`...). */
  readonly client: NioBot;
  /** The registered account (its access token is a secret: never log it). */
  readonly account: RegisteredUser;
  readonly #rooms = new Map<string, SeenEvent[]>();
  /** Per room: the event after which the next expectation looks. */
  readonly #marks = new Map<string, string>();
  readonly #markTimes = new Map<string, number>();
  readonly #typing = new Map<string, { at: number; userIds: string[] }[]>();
  #wake: (() => void)[] = [];

  private constructor(client: NioBot, account: RegisteredUser) {
    this.client = client;
    this.account = account;
  }

  /** Starts a person's client for a registered account (use `TestHomeserver.user`). */
  static async start(baseUrl: string, account: RegisteredUser, options: TestPersonOptions = {}): Promise<TestPerson> {
    const box: { person?: TestPerson } = {};
    // The bot's sync engine skips ephemeral events; the person reads typing from the raw sync answers.
    const tap: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      if (response.ok && box.person && new URL(input).pathname.endsWith("/sync"))
        void response.clone().json().then(
          (body: unknown) => {
            if (box.person) box.person.#onSync(body);
          },
          () => undefined,
        );
      return response;
    };
    const client = new NioBot({
      homeserver: baseUrl,
      userId: account.userId,
      logger: silentLogger,
      handleSignals: false,
      helpCommand: false,
      defaultMsgtype: "m.text",
      autoReadReceipts: false,
      encryption: options.encrypted ?? false,
      fetch: tap,
      syncTimeoutMs: 10_000,
      syncFilter: { ...DEFAULT_SYNC_FILTER, room: { ...DEFAULT_SYNC_FILTER.room, ephemeral: { types: ["m.typing"] } } },
    });
    const person = new TestPerson(client, account);
    box.person = person;
    client.on("event", (room, event) => person.#record(room.roomId, { event }));
    client.on("decryptionFailure", (room, event, failure) => {
      if (!failure.willRetry) person.#record(room.roomId, { event, undecryptable: failure.message });
    });
    client.on("error", () => undefined);
    await client.start({ accessToken: account.accessToken, password: account.password });
    if (options.displayName) await client.api.profile.setDisplayName(account.userId, options.displayName);
    return person;
  }

  /** The person's user id. */
  get userId(): string {
    return this.account.userId;
  }

  #record(roomId: string, seen: SeenEvent): void {
    let list = this.#rooms.get(roomId);
    if (!list) this.#rooms.set(roomId, (list = []));
    list.push(seen);
    this.#notify();
  }

  #onSync(body: unknown): void {
    const join = (body as { rooms?: { join?: Record<string, { ephemeral?: { events?: unknown[] } }> } }).rooms?.join ?? {};
    for (const [roomId, room] of Object.entries(join))
      for (const e of room.ephemeral?.events ?? []) {
        const ev = e as { type?: unknown; content?: { user_ids?: unknown } };
        if (ev.type !== "m.typing" || !Array.isArray(ev.content?.user_ids)) continue;
        let list = this.#typing.get(roomId);
        if (!list) this.#typing.set(roomId, (list = []));
        list.push({ at: Date.now(), userIds: ev.content.user_ids.filter((u): u is string => typeof u === "string") });
        this.#notify();
      }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  #mark(roomId: string, eventId: string): void {
    this.#marks.set(roomId, eventId);
    this.#markTimes.set(roomId, Date.now());
  }

  /** Everything received in a room so far, oldest first. */
  events(roomId: string): readonly SeenEvent[] {
    return this.#rooms.get(roomId) ?? [];
  }

  /** The room's transcript as printed by failed expectations. */
  transcript(roomId: string): string {
    return formatTranscript(roomId, this.events(roomId));
  }

  /** Events received after the mark; undefined while the marked event itself has not arrived. */
  #afterMark(roomId: string): SeenEvent[] | undefined {
    const list = this.events(roomId);
    const mark = this.#marks.get(roomId);
    if (mark === undefined) return [...list];
    const at = list.findIndex((s) => s.event.event_id === mark);
    return at < 0 ? undefined : list.slice(at + 1);
  }

  /**
   * Waits until `check` returns a value, re-checking on every arrival; on
   * timeout throws an Error naming `what`, with the room's transcript.
   */
  async #until<T>(roomId: string, what: string, options: ExpectOptions, check: () => T | undefined): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      options.signal?.throwIfAborted();
      const found = check();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.userId} waited ${options.timeoutMs ?? 20_000} ms for ${what}\n${this.transcript(roomId)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #fromOther(event: ClientEvent, from: string | undefined): boolean {
    return from === undefined ? event.sender !== this.userId : event.sender === from;
  }

  /**
   * Creates a direct room with `userId` (encrypted when this person is) and
   * waits until they joined; returns the room id.
   */
  async dm(userId: string, options: { waitForJoin?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const { roomId } = await this.client.createDmRoom(userId);
    if (options.waitForJoin ?? true) await this.waitForJoin(roomId, userId, options.timeoutMs);
    return roomId;
  }

  /** Creates a room, inviting `invite` and waiting until they joined; encrypted when asked. */
  async createRoom(options: { invite?: string[]; encrypted?: boolean; name?: string; waitForJoin?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const invite = options.invite ?? [];
    const { room_id } = await this.client.api.rooms.create({
      preset: "private_chat",
      invite,
      ...(options.name ? { name: options.name } : {}),
      ...(options.encrypted ?? this.client.encryptionEnabled
        ? { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] }
        : {}),
    });
    if (options.waitForJoin ?? true) for (const userId of invite) await this.waitForJoin(room_id, userId, options.timeoutMs);
    return room_id;
  }

  /** Joins a room (after an invite from the bot, say). */
  async join(roomId: string): Promise<void> {
    await this.client.roomsApi.join(roomId);
  }

  /** Waits until `userId` is a joined member of the room, as this person's sync shows it. */
  async waitForJoin(roomId: string, userId: string, timeoutMs = 20_000): Promise<void> {
    await this.#until(roomId, `${userId} to join`, { timeoutMs }, () =>
      this.events(roomId).some((s) => s.event.type === "m.room.member" && s.event.state_key === userId && s.event.content.membership === "join") || undefined,
    );
  }

  /** Waits for an invite into any room (or `roomId`), then joins; returns the room id. */
  async acceptInvite(options: { roomId?: string; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const joined = [...this.client.rooms.rooms.values()].find((r) => (options.roomId === undefined || r.roomId === options.roomId) && this.#rooms.has(r.roomId));
      if (joined) return joined.roomId;
      if (Date.now() > deadline) throw new Error(`${this.userId} received no invite${options.roomId ? ` to ${options.roomId}` : ""}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends a text message (encrypted in an encrypted room), in a thread or as a reply; returns its event id. */
  async say(roomId: string, text: string, options: SayOptions = {}): Promise<string> {
    let id: string;
    if (options.replyTo) id = await this.client.reply(options.replyTo, text, { format: "plain" });
    else if (options.thread) id = await this.client.sendThreadMessage(roomId, options.thread, text, { format: "plain" });
    else if (options.content) id = await this.client.sendMessage(roomId, { msgtype: "m.text", ...options.content, body: text } as MessageContent);
    else id = await this.client.sendMessage(roomId, text, { format: "plain" });
    this.#mark(roomId, id);
    return id;
  }

  /**
   * Invokes a bot's command in the structured form (MSC4391), as a client that read the bot's
   * published descriptions would: an `m.text` message with the bot in `m.mentions` and the
   * command block; `body` is the text fallback. Returns the event id.
   *
   * @example
   * await alice.invoke(room, bot.userId, "add", { a: 2, b: 3 });
   * await alice.expectReply(room, "5");
   */
  async invoke(roomId: string, botUserId: string, command: string, args: Record<string, unknown> = {}, body = `/${command}`): Promise<string> {
    return this.say(roomId, body, { content: { "m.mentions": { user_ids: [botUserId] }, [COMMAND_INVOCATION_KEY]: { command, arguments: args } } });
  }

  /**
   * The command descriptions (MSC4391) a bot has published in a room, as this person's server
   * has them now: content by command name; cleared descriptions are left out.
   */
  async commandDescriptions(roomId: string, botUserId: string): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const event of await this.client.api.rooms.state(roomId)) {
      if (event.type !== COMMAND_DESCRIPTION_EVENT_TYPE || event.sender !== botUserId) continue;
      if (typeof event.content.command === "string") out.set(event.content.command, event.content);
    }
    return out;
  }

  /** Reacts to an event with `key` (an emoji, say); returns the reaction's id. */
  async react(roomId: string, eventId: string, key: string): Promise<string> {
    const id = await this.client.react(roomId, eventId, key);
    this.#mark(roomId, id);
    return id;
  }

  /** Edits one of this person's messages; returns the edit's id. */
  async edit(roomId: string, eventId: string, text: string): Promise<string> {
    const id = await this.client.edit(roomId, eventId, text, { format: "plain" });
    this.#mark(roomId, id);
    return id;
  }

  /** Uploads and sends a file (encrypted in an encrypted room); returns the event id. */
  async sendFile(roomId: string, file: TestFile, caption?: string): Promise<string> {
    const attachment = Attachment.fromBytes(file.bytes, { filename: file.filename, ...(file.mimetype ? { mimetype: file.mimetype } : {}) });
    const id = await this.client.sendAttachment(roomId, attachment, caption === undefined ? {} : { caption });
    this.#mark(roomId, id);
    return id;
  }

  /** Shows this person typing for `ms` (the server's timeout). */
  async typing(roomId: string, typing = true, ms = 30_000): Promise<void> {
    await this.client.api.rooms.typing(roomId, this.userId, typing, ms);
  }

  /**
   * Waits for the next message (not an edit) from the bot, or from anyone
   * but this person, after this person's last action in the room, and checks
   * its body against `match` (a substring or RegExp; anything when omitted).
   * The next expectation looks after this reply.
   */
  async expectReply(roomId: string, match?: string | RegExp, options: ExpectOptions = {}): Promise<MessageEvent> {
    const what = `a reply${match === undefined ? "" : ` matching ${String(match)}`}`;
    const seen = await this.#until(roomId, what, options, () =>
      this.#afterMark(roomId)?.find((s) => this.#fromOther(s.event, options.from) && (s.undecryptable !== undefined || (s.event.type === "m.room.message" && !isEdit(s.event)))),
    );
    this.#mark(roomId, seen.event.event_id);
    if (seen.undecryptable) throw new Error(`${this.userId} could not decrypt the reply ${seen.event.event_id}: ${seen.undecryptable}\n${this.transcript(roomId)}`);
    const body = String(seen.event.content.body ?? "");
    if (match !== undefined && !textMatches(body, match))
      throw new Error(`${this.userId} expected a reply matching ${String(match)}, got ${JSON.stringify(body)}\n${this.transcript(roomId)}`);
    return seen.event as MessageEvent;
  }

  /** Waits for a file, image, video or audio message from the bot; returns it (download it with {@link TestPerson.download}). */
  async expectFile(roomId: string, options: ExpectOptions = {}): Promise<MessageEvent> {
    const event = await this.expectReply(roomId, undefined, options);
    if (!FILE_MSGTYPES.has(String(event.content.msgtype)))
      throw new Error(`${this.userId} expected a file, got ${String(event.content.msgtype)} ${JSON.stringify(event.content.body)}\n${this.transcript(roomId)}`);
    return event;
  }

  /** Downloads (and decrypts) the media of a file message. */
  async download(event: ClientEvent): Promise<Uint8Array> {
    const c = event.content as { file?: Parameters<NioBot["media"]["download"]>[0]; url?: string };
    const source = c.file ?? c.url;
    if (source === undefined) throw new Error(`event ${event.event_id} carries no file`);
    const { bytes } = await this.client.media.download(source);
    return bytes;
  }

  /** Waits for a reaction (with `key`, when given) from the bot after this person's last action; returns it. */
  async expectReaction(roomId: string, key?: string, options: ExpectOptions & { to?: string } = {}): Promise<ClientEvent> {
    const seen = await this.#until(roomId, `a reaction${key ? ` ${key}` : ""}`, options, () =>
      this.#afterMark(roomId)?.find((s) => {
        const rel = relationOf(s.event);
        return s.event.type === "m.reaction" && this.#fromOther(s.event, options.from) && (key === undefined || rel?.key === key) && (options.to === undefined || rel?.event_id === options.to);
      }),
    );
    return seen.event;
  }

  /** Waits for an edit by the bot (of `of`, when given) whose new text matches; returns the edit event. */
  async expectEdit(roomId: string, match?: string | RegExp, options: ExpectOptions & { of?: string } = {}): Promise<ClientEvent> {
    const seen = await this.#until(roomId, `an edit${match === undefined ? "" : ` matching ${String(match)}`}`, options, () =>
      this.#afterMark(roomId)?.find((s) => {
        if (!isEdit(s.event) || !this.#fromOther(s.event, options.from)) return false;
        if (options.of !== undefined && relationOf(s.event)?.event_id !== options.of) return false;
        const body = (s.event.content["m.new_content"] as { body?: unknown } | undefined)?.body;
        return match === undefined || (typeof body === "string" && textMatches(body, match));
      }),
    );
    this.#mark(roomId, seen.event.event_id);
    return seen.event;
  }

  /** Waits until the bot (or anyone but this person) is shown typing in the room, after this person's last action. */
  async expectTyping(roomId: string, options: ExpectOptions = {}): Promise<void> {
    const since = this.#markTimes.get(roomId) ?? 0;
    await this.#until(roomId, "a typing notification", options, () =>
      this.#typing.get(roomId)?.some((t) => t.at >= since && t.userIds.some((u) => (options.from === undefined ? u !== this.userId : u === options.from))) || undefined,
    );
  }

  /**
   * Waits `ms`, then fails if anyone but this person (or `from`) sent a
   * message, reaction or edit after this person's last action.
   */
  async expectNoReply(roomId: string, ms = 2_000, options: Omit<ExpectOptions, "timeoutMs"> = {}): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const after = this.#afterMark(roomId) ?? [];
    const answer = after.find((s) => this.#fromOther(s.event, options.from) && ["m.room.message", "m.reaction", "m.room.encrypted"].includes(s.event.type));
    if (answer) throw new Error(`${this.userId} expected no reply for ${ms} ms, got ${answer.event.event_id}\n${this.transcript(roomId)}`);
  }

  /** A state event of a room as the server has it now (undefined when absent). */
  async roomState(roomId: string, eventType: string, stateKey = ""): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.client.api.rooms.getState(roomId, eventType, stateKey)) as Record<string, unknown>;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  /** Stops the client. */
  async stop(): Promise<void> {
    await this.client.stop();
  }
}
