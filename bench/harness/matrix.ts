/**
 * The harness's own Matrix calls (set-up and the users), over plain fetch
 * straight to Synapse: they do not go through the counting proxy and do not
 * depend on niobot's client, which is under test.
 */

/** Minimal client-server API calls with an access token. */
export class Client {
  constructor(
    readonly baseUrl: string,
    readonly accessToken: string,
    readonly userId: string,
  ) {}

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path.split("?")[0]} answered ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }

  async createRoom(invite: string[]): Promise<string> {
    const r = await this.call<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", invite });
    return r.room_id;
  }

  async join(roomId: string): Promise<void> {
    await this.call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
  }

  async logout(): Promise<void> {
    await this.call("POST", "/_matrix/client/v3/logout", {});
  }
}

/** A fresh login (new device, new access token) for `localpart`. */
export async function login(baseUrl: string, localpart: string, password: string): Promise<{ client: Client; deviceId: string }> {
  const res = await fetch(`${baseUrl}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password, initial_device_display_name: "bench" }),
  });
  if (!res.ok) throw new Error(`login of ${localpart} answered ${res.status}`);
  const r = (await res.json()) as { access_token: string; device_id: string; user_id: string };
  return { client: new Client(baseUrl, r.access_token, r.user_id), deviceId: r.device_id };
}

/** Runs `fn` over `items` with at most `limit` at a time; calls `progress` with the count done, at most every `everyMs`. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, progress?: (done: number) => void, everyMs = 15_000): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let done = 0;
  let last = performance.now();
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
      done++;
      if (progress && performance.now() - last >= everyMs) {
        last = performance.now();
        progress(done);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type TimelineEvent = { type: string; sender: string; event_id: string; content: { body?: unknown; "m.relates_to"?: { "m.in_reply_to"?: { event_id?: string } } } };
type SyncResponse = { next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: TimelineEvent[] } }> } };

/**
 * A user in their own room with the bot: syncs in the background (that room
 * only) and measures each `!ping` from sending it to the bot's reply
 * arriving in the user's sync, matched by the reply's `m.in_reply_to`.
 */
export class PingUser {
  readonly #client: Client;
  readonly #roomId: string;
  readonly #abort = new AbortController();
  /** Reply arrival times by the event id they answer; replies can land before the send's response does. */
  readonly #replies = new Map<string, number>();
  readonly #waiters = new Map<string, (at: number) => void>();
  #since: string | undefined;
  #txn = 0;
  #loop: Promise<void> | undefined;
  botUserId = "";

  constructor(client: Client, roomId: string) {
    this.#client = client;
    this.#roomId = roomId;
  }

  /** Catches up to now (so history is not news) and starts the background sync. */
  async start(): Promise<void> {
    await this.#syncOnce(0);
    this.#loop = (async () => {
      while (!this.#abort.signal.aborted) {
        try {
          await this.#syncOnce(30_000);
        } catch {
          if (!this.#abort.signal.aborted) await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  }

  async #syncOnce(timeout: number): Promise<void> {
    const filter = JSON.stringify({
      presence: { not_types: ["*"] },
      account_data: { not_types: ["*"] },
      room: { rooms: [this.#roomId], timeline: { limit: 50 }, state: { types: [] }, ephemeral: { not_types: ["*"] }, account_data: { not_types: ["*"] } },
    });
    const q = new URLSearchParams({ filter, timeout: String(timeout), ...(this.#since ? { since: this.#since } : {}) });
    const sync = await this.#client.call<SyncResponse>("GET", `/_matrix/client/v3/sync?${q}`, undefined, this.#abort.signal);
    const at = performance.now();
    this.#since = sync.next_batch;
    for (const e of sync.rooms?.join?.[this.#roomId]?.timeline?.events ?? []) {
      const answered = e.content["m.relates_to"]?.["m.in_reply_to"]?.event_id;
      if (e.sender !== this.botUserId || e.type !== "m.room.message" || !answered) continue;
      const waiter = this.#waiters.get(answered);
      if (waiter) waiter(at);
      else this.#replies.set(answered, at);
    }
  }

  /** Sends `!ping` and resolves with the ms until the bot's reply arrived; rejects after `timeoutMs`. */
  async ping(timeoutMs: number): Promise<number> {
    const sent = performance.now();
    const txn = `p${Date.now()}-${this.#txn++}`;
    const { event_id: eventId } = await this.#client.call<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(this.#roomId)}/send/m.room.message/${txn}`,
      { msgtype: "m.text", body: "!ping" },
    );
    const early = this.#replies.get(eventId);
    if (early !== undefined) {
      this.#replies.delete(eventId);
      return early - sent;
    }
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(eventId);
        reject(new Error(`no reply to ${eventId} in ${this.#roomId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(eventId, (at) => {
        clearTimeout(timer);
        this.#waiters.delete(eventId);
        resolve(at - sent);
      });
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }
}
