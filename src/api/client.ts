/**
 * `MatrixApi`: the typed client-server API, one method per endpoint, grouped
 * by resource (`api.rooms.send(...)`, `api.accountData.get(...)`). Each method
 * is a one-line call into the endpoint table; the transport handles retries.
 */
import { randomBytes } from "node:crypto";
import { endpoints, fillPath, type Endpoint, type PathParams, type RelationsQuery } from "./endpoints.js";
import { HttpClient, type HttpClientOptions, type HttpRequest, type RawResponse } from "./http.js";
import { readSyncBody, type JoinedRoomSink } from "./sync-body.js";
import type { ClientEvent } from "./events.js";
import type * as T from "./types.js";

/** Options every call accepts. */
export interface CallOptions {
  /** Cancels the call, including retries and their waits. */
  signal?: AbortSignal;
}

/** Arguments of {@link MatrixApi.call}, typed from the endpoint. */
export type CallArgs<P extends string, Q, B> = CallOptions &
  (keyof PathParams<P> extends never ? { path?: PathParams<P> } : { path: PathParams<P> }) &
  (Q extends undefined ? { query?: undefined } : { query: Q }) &
  (B extends undefined ? { body?: undefined } : { body: B }) & {
    /** Extra client-side time allowed on top of the request timeout (long polls). */
    extraTimeoutMs?: number;
    /** Override whether 5xx/network failures are retried by the transport. */
    idempotent?: boolean;
    /** Reads the successful JSON body from its stream ({@link HttpRequest.readJson}). */
    readJson?: HttpRequest["readJson"];
  };

/**
 * Extra time for a sync that does not wait (the first after a start): it
 * returns every room, or everything since the stored token, and Synapse took
 * 30 s for 2000 rooms on a quiet machine and over a minute under load. Cut
 * at the usual request limit, each retry would start the same work again and
 * the bot would never start.
 */
const CATCH_UP_SYNC_EXTRA_MS = 15 * 60_000;

let txnCounter = 0;
/** A transaction id unique to this process and run, so retried sends are deduplicated by the server. */
export function newTxnId(): string {
  return `nb${Date.now().toString(36)}${randomBytes(4).toString("hex")}${(txnCounter++).toString(36)}`;
}

/**
 * The client-server API of one homeserver, for one account.
 *
 * @example
 * const api = new MatrixApi({ baseUrl: "https://matrix.example.org", accessToken });
 * const { user_id } = await api.account.whoami();
 * await api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: "hi" });
 */
export class MatrixApi {
  /** The transport; exposed for raw calls to endpoints niobot does not wrap. */
  readonly http: HttpClient;

  constructor(options: HttpClientOptions | HttpClient) {
    this.http = options instanceof HttpClient ? options : new HttpClient(options);
  }

  /** Calls any endpoint of the table with typed path parameters, query and body. */
  call<P extends string, Q, B, R>(endpoint: Endpoint<P, Q, B, R>, args: CallArgs<P, Q, B>): Promise<R> {
    return this.http.request<R>({
      method: endpoint.method,
      path: fillPath(endpoint.path, (args.path ?? {}) as Record<string, string>),
      query: args.query as Record<string, string | number | boolean | undefined> | undefined,
      body: args.body,
      auth: endpoint.auth,
      signal: args.signal,
      extraTimeoutMs: args.extraTimeoutMs,
      idempotent: args.idempotent,
      readJson: args.readJson,
    });
  }

  /** Session: login, whoami, logout, devices. */
  readonly account = {
    versions: (o: CallOptions = {}) => this.call(endpoints.versions, { ...o }),
    loginWithPassword: (user: string, password: string, opts: { deviceId?: string; deviceName?: string; refreshToken?: boolean } & CallOptions = {}) =>
      this.call(endpoints.login, {
        signal: opts.signal,
        body: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user },
          password,
          ...(opts.deviceId ? { device_id: opts.deviceId } : {}),
          ...(opts.deviceName ? { initial_device_display_name: opts.deviceName } : {}),
          ...(opts.refreshToken ? { refresh_token: true } : {}),
        },
      }),
    /** Exchanges a refresh token for a new access token (and usually a new refresh token). */
    refresh: (refreshToken: string, o: CallOptions = {}) => this.call(endpoints.refresh, { ...o, body: { refresh_token: refreshToken } }),
    whoami: (o: CallOptions = {}) => this.call(endpoints.whoami, { ...o }),
    logout: (o: CallOptions = {}) => this.call(endpoints.logout, { ...o, body: {} }),
    deleteDevice: (deviceId: string, auth: Record<string, unknown> | undefined, o: CallOptions = {}) =>
      this.call(endpoints.deleteDevice, { ...o, path: { deviceId }, body: auth ? { auth } : {} }),
  };

  /** Long-poll sync and history. */
  readonly sync = {
    /**
     * `GET /sync`. A catch-up sync (no `timeout`) is read room by room; `onJoinedRoom` may take
     * each joined room as it is parsed, leaving it out of the answer (see {@link JoinedRoomSink}).
     */
    sync: (query: { filter?: string; since?: string; timeout?: number; full_state?: boolean; set_presence?: string }, o: CallOptions & { onJoinedRoom?: JoinedRoomSink } = {}) =>
      // The sync engine retries failed polls itself (with backoff and a syncError event).
      // A catch-up sync (no wait: the first after a start) can be tens of MB: read room by room.
      // A long poll's answer is small, and one text and one parse cost it less.
      this.call(endpoints.sync, {
        signal: o.signal,
        query,
        extraTimeoutMs: query.timeout ? query.timeout : CATCH_UP_SYNC_EXTRA_MS,
        idempotent: false,
        readJson: query.timeout ? undefined : o.onJoinedRoom ? (body) => readSyncBody(body, o.onJoinedRoom) : readSyncBody,
      }),
    /** One simplified sliding sync request (MSC4186); `query.timeout` long-polls when nothing changed. */
    sliding: (body: T.SlidingSyncRequest, query: { pos?: string; timeout?: number }, o: CallOptions = {}) =>
      this.call(endpoints.slidingSync, { ...o, body, query, extraTimeoutMs: query.timeout ?? 0, idempotent: false }),
    messages: (roomId: string, query: { from?: string; to?: string; dir: "b" | "f"; limit?: number; filter?: string }, o: CallOptions = {}) =>
      this.call(endpoints.messages, { ...o, path: { roomId }, query }),
  };

  /** Rooms: membership, events, state, receipts. */
  readonly rooms = {
    joined: (o: CallOptions = {}) => this.call(endpoints.joinedRooms, { ...o }),
    create: (body: T.CreateRoomRequest, o: CallOptions = {}) => this.call(endpoints.createRoom, { ...o, body }),
    join: (roomIdOrAlias: string, opts: { reason?: string; via?: string[] } & CallOptions = {}) =>
      this.http.request<T.RoomIdResponse>({
        method: "POST",
        path: fillPath(endpoints.join.path, { roomIdOrAlias }) + viaQuery(opts.via),
        body: opts.reason ? { reason: opts.reason } : {},
        signal: opts.signal,
      }),
    leave: (roomId: string, reason?: string, o: CallOptions = {}) =>
      this.call(endpoints.leave, { ...o, path: { roomId }, body: reason ? { reason } : {} }),
    forget: (roomId: string, o: CallOptions = {}) => this.call(endpoints.forget, { ...o, path: { roomId }, body: {} }),
    invite: (roomId: string, userId: string, reason?: string, o: CallOptions = {}) =>
      this.call(endpoints.invite, { ...o, path: { roomId }, body: { user_id: userId, ...(reason ? { reason } : {}) } }),
    kick: (roomId: string, userId: string, reason?: string, o: CallOptions = {}) =>
      this.call(endpoints.kick, { ...o, path: { roomId }, body: { user_id: userId, ...(reason ? { reason } : {}) } }),
    ban: (roomId: string, userId: string, reason?: string, o: CallOptions = {}) =>
      this.call(endpoints.ban, { ...o, path: { roomId }, body: { user_id: userId, ...(reason ? { reason } : {}) } }),
    unban: (roomId: string, userId: string, reason?: string, o: CallOptions = {}) =>
      this.call(endpoints.unban, { ...o, path: { roomId }, body: { user_id: userId, ...(reason ? { reason } : {}) } }),
    joinedMembers: (roomId: string, o: CallOptions = {}) => this.call(endpoints.joinedMembers, { ...o, path: { roomId } }),
    members: (roomId: string, query: { membership?: string; not_membership?: string; at?: string } = {}, o: CallOptions = {}) =>
      this.call(endpoints.members, { ...o, path: { roomId }, query }),
    /**
     * Sends a room event; the transaction id makes retries safe. Without `txnId` a fresh one is
     * made; the bot's outbox passes the one derived from the triggering event (`src/delivery/`).
     */
    send: (roomId: string, eventType: string, content: Record<string, unknown>, opts: { txnId?: string } & CallOptions = {}) =>
      this.call(endpoints.sendEvent, { signal: opts.signal, path: { roomId, eventType, txnId: opts.txnId ?? newTxnId() }, body: content }),
    redact: (roomId: string, eventId: string, reason?: string, opts: { txnId?: string } & CallOptions = {}) =>
      this.call(endpoints.redact, { signal: opts.signal, path: { roomId, eventId, txnId: opts.txnId ?? newTxnId() }, body: reason ? { reason } : {} }),
    event: (roomId: string, eventId: string, o: CallOptions = {}) =>
      this.call(endpoints.getEvent, { ...o, path: { roomId, eventId } }).then((e): ClientEvent => ({ ...e, room_id: e.room_id ?? roomId })),
    state: (roomId: string, o: CallOptions = {}) => this.call(endpoints.getState, { ...o, path: { roomId } }),
    getState: (roomId: string, eventType: string, stateKey = "", o: CallOptions = {}) =>
      this.call(endpoints.getStateEvent, { ...o, path: { roomId, eventType, stateKey } }),
    putState: (roomId: string, eventType: string, stateKey: string, content: Record<string, unknown>, o: CallOptions = {}) =>
      this.call(endpoints.putStateEvent, { ...o, path: { roomId, eventType, stateKey }, body: content }),
    typing: (roomId: string, userId: string, typing: boolean, timeoutMs?: number, o: CallOptions = {}) =>
      this.call(endpoints.typing, { ...o, path: { roomId, userId }, body: typing ? { typing, timeout: timeoutMs ?? 30_000 } : { typing } }),
    receipt: (roomId: string, eventId: string, receiptType = "m.read", threadId?: string, o: CallOptions = {}) =>
      this.call(endpoints.receipt, { ...o, path: { roomId, receiptType, eventId }, body: threadId ? { thread_id: threadId } : {} }),
    /** Events relating to `eventId` by `relType` with type `eventType` (one page; `next_batch` continues). */
    relations: (roomId: string, eventId: string, relType: string, eventType: string, query: RelationsQuery = {}, o: CallOptions = {}) =>
      this.call(endpoints.relations, { ...o, path: { roomId, eventId, relType, eventType }, query }),
    readMarkers: (roomId: string, markers: { "m.fully_read"?: string; "m.read"?: string; "m.read.private"?: string }, o: CallOptions = {}) =>
      this.call(endpoints.readMarkers, { ...o, path: { roomId }, body: markers }),
  };

  /** Room directory. */
  readonly directory = {
    resolveAlias: (roomAlias: string, o: CallOptions = {}) => this.call(endpoints.resolveAlias, { ...o, path: { roomAlias } }),
  };

  /** Account data, global and per room. */
  readonly accountData = {
    get: (userId: string, type: string, o: CallOptions = {}) => this.call(endpoints.getAccountData, { ...o, path: { userId, type } }),
    put: (userId: string, type: string, content: Record<string, unknown>, o: CallOptions = {}) =>
      this.call(endpoints.putAccountData, { ...o, path: { userId, type }, body: content }),
    getRoom: (userId: string, roomId: string, type: string, o: CallOptions = {}) =>
      this.call(endpoints.getRoomAccountData, { ...o, path: { userId, roomId, type } }),
    putRoom: (userId: string, roomId: string, type: string, content: Record<string, unknown>, o: CallOptions = {}) =>
      this.call(endpoints.putRoomAccountData, { ...o, path: { userId, roomId, type }, body: content }),
  };

  /** Profiles and presence. */
  readonly profile = {
    get: (userId: string, o: CallOptions = {}) => this.call(endpoints.getProfile, { ...o, path: { userId } }),
    setDisplayName: (userId: string, displayname: string, o: CallOptions = {}) =>
      this.call(endpoints.putDisplayName, { ...o, path: { userId }, body: { displayname } }),
    setAvatarUrl: (userId: string, avatarUrl: string, o: CallOptions = {}) =>
      this.call(endpoints.putAvatarUrl, { ...o, path: { userId }, body: { avatar_url: avatarUrl } }),
    getPresence: (userId: string, o: CallOptions = {}) => this.call(endpoints.getPresence, { ...o, path: { userId } }),
    setPresence: (userId: string, presence: "online" | "offline" | "unavailable", statusMsg?: string, o: CallOptions = {}) =>
      this.call(endpoints.putPresence, { ...o, path: { userId }, body: { presence, ...(statusMsg !== undefined ? { status_msg: statusMsg } : {}) } }),
  };

  /** Media: upload, authenticated download, limits. */
  readonly media = {
    config: (o: CallOptions = {}) => this.call(endpoints.mediaConfig, { ...o }),
    upload: (bytes: Uint8Array, contentType: string, filename?: string, o: CallOptions = {}) =>
      this.http.request<T.UploadResponse>({
        method: "POST",
        path: endpoints.upload.path,
        query: filename ? { filename } : undefined,
        rawBody: bytes,
        contentType,
        signal: o.signal,
      }),
    /** Downloads through authenticated media (`/_matrix/client/v1/media/download`). */
    download: (serverName: string, mediaId: string, o: CallOptions = {}): Promise<RawResponse> =>
      this.http.requestRaw({ method: "GET", path: fillPath(endpoints.download.path, { serverName, mediaId }), signal: o.signal }),
    /** The unauthenticated (deprecated) download endpoint, for servers without authenticated media. */
    downloadLegacy: (serverName: string, mediaId: string, o: CallOptions = {}): Promise<RawResponse> =>
      this.http.requestRaw({ method: "GET", path: fillPath(endpoints.downloadLegacy.path, { serverName, mediaId }), auth: false, signal: o.signal }),
  };
}

function viaQuery(via: string[] | undefined): string {
  if (!via || via.length === 0) return "";
  const params = new URLSearchParams();
  for (const server of via) params.append("via", server);
  return `?${params.toString()}`;
}
