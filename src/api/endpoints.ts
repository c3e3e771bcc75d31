/**
 * The endpoint table: every client-server API endpoint niobot calls, with its
 * method, path template and the types of its query, body and response. The
 * resource groups in `client.ts` are thin wrappers over this table, so a new
 * endpoint is one line here.
 */
import type { ClientEvent, StateEvent } from "./events.js";
import type * as T from "./types.js";

/** Extracts `{roomId: string, ...}` from a path template with `{roomId}` placeholders. */
export type PathParams<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? { [K in Name | keyof PathParams<Rest>]: string }
  : Record<never, string>;

/** One endpoint: method and path template, with phantom request/response types. */
export interface Endpoint<Path extends string, Query, Body, Response> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: Path;
  /** Whether the request carries the access token. */
  readonly auth: boolean;
  /** Type carriers; never set at run time. */
  readonly _types?: { query: Query; body: Body; response: Response };
}

function def<Response, Body = undefined, Query = undefined>() {
  return <Path extends string>(
    method: Endpoint<Path, Query, Body, Response>["method"],
    path: Path,
    auth = true,
  ): Endpoint<Path, Query, Body, Response> => ({ method, path, auth });
}

const V3 = "/_matrix/client/v3" as const;
const MEDIA_V1 = "/_matrix/client/v1/media" as const;

type Json = Record<string, unknown>;
type Empty = T.EmptyResponse;

/** Query of the `/relations` endpoints (paginated, newest first by default). */
export type RelationsQuery = { from?: string; to?: string; limit?: number; dir?: "b" | "f"; recurse?: boolean };

/** Every endpoint niobot uses, grouped by resource. */
export const endpoints = {
  // discovery and versions
  versions: def<T.VersionsResponse>()("GET", "/_matrix/client/versions", false),
  wellKnown: def<T.WellKnownResponse>()("GET", "/.well-known/matrix/client", false),

  // session
  login: def<T.LoginResponse, T.PasswordLoginRequest>()("POST", `${V3}/login`, false),
  logout: def<Empty, Json>()("POST", `${V3}/logout`),
  whoami: def<T.WhoamiResponse>()("GET", `${V3}/account/whoami`),
  refresh: def<T.RefreshResponse, { refresh_token: string }>()("POST", `${V3}/refresh`, false),
  deleteDevice: def<Empty, Json>()("DELETE", `${V3}/devices/{deviceId}`),

  // sync
  sync: def<T.SyncResponse, undefined, { filter?: string; since?: string; timeout?: number; full_state?: boolean; set_presence?: string }>()(
    "GET", `${V3}/sync`),
  messages: def<T.MessagesResponse, undefined, { from?: string; to?: string; dir: "b" | "f"; limit?: number; filter?: string }>()(
    "GET", `${V3}/rooms/{roomId}/messages`),
  slidingSync: def<T.SlidingSyncResponse, T.SlidingSyncRequest, { pos?: string; timeout?: number }>()(
    "POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"),

  // rooms: membership
  joinedRooms: def<{ joined_rooms: string[] }>()("GET", `${V3}/joined_rooms`),
  createRoom: def<T.RoomIdResponse, T.CreateRoomRequest>()("POST", `${V3}/createRoom`),
  join: def<T.RoomIdResponse, { reason?: string }, { via?: string }>()("POST", `${V3}/join/{roomIdOrAlias}`),
  leave: def<Empty, { reason?: string }>()("POST", `${V3}/rooms/{roomId}/leave`),
  forget: def<Empty, Json>()("POST", `${V3}/rooms/{roomId}/forget`),
  invite: def<Empty, { user_id: string; reason?: string }>()("POST", `${V3}/rooms/{roomId}/invite`),
  kick: def<Empty, { user_id: string; reason?: string }>()("POST", `${V3}/rooms/{roomId}/kick`),
  ban: def<Empty, { user_id: string; reason?: string }>()("POST", `${V3}/rooms/{roomId}/ban`),
  unban: def<Empty, { user_id: string; reason?: string }>()("POST", `${V3}/rooms/{roomId}/unban`),
  joinedMembers: def<T.JoinedMembersResponse>()("GET", `${V3}/rooms/{roomId}/joined_members`),
  members: def<{ chunk: StateEvent[] }, undefined, { membership?: string; not_membership?: string; at?: string }>()(
    "GET", `${V3}/rooms/{roomId}/members`),

  // rooms: events and state
  sendEvent: def<T.EventIdResponse, Json>()("PUT", `${V3}/rooms/{roomId}/send/{eventType}/{txnId}`),
  redact: def<T.EventIdResponse, { reason?: string }>()("PUT", `${V3}/rooms/{roomId}/redact/{eventId}/{txnId}`),
  getEvent: def<ClientEvent>()("GET", `${V3}/rooms/{roomId}/event/{eventId}`),
  getState: def<StateEvent[]>()("GET", `${V3}/rooms/{roomId}/state`),
  getStateEvent: def<Json>()("GET", `${V3}/rooms/{roomId}/state/{eventType}/{stateKey}`),
  putStateEvent: def<T.EventIdResponse, Json>()("PUT", `${V3}/rooms/{roomId}/state/{eventType}/{stateKey}`),
  typing: def<Empty, { typing: boolean; timeout?: number }>()("PUT", `${V3}/rooms/{roomId}/typing/{userId}`),
  receipt: def<Empty, { thread_id?: string }>()("POST", `${V3}/rooms/{roomId}/receipt/{receiptType}/{eventId}`),
  readMarkers: def<Empty, { "m.fully_read"?: string; "m.read"?: string; "m.read.private"?: string }>()(
    "POST", `${V3}/rooms/{roomId}/read_markers`),
  relations: def<{ chunk: ClientEvent[]; next_batch?: string; prev_batch?: string }, undefined, RelationsQuery>()(
    "GET", "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"),

  // directory
  resolveAlias: def<T.RoomAliasResponse>()("GET", `${V3}/directory/room/{roomAlias}`),

  // account data
  getAccountData: def<Json>()("GET", `${V3}/user/{userId}/account_data/{type}`),
  putAccountData: def<Empty, Json>()("PUT", `${V3}/user/{userId}/account_data/{type}`),
  getRoomAccountData: def<Json>()("GET", `${V3}/user/{userId}/rooms/{roomId}/account_data/{type}`),
  putRoomAccountData: def<Empty, Json>()("PUT", `${V3}/user/{userId}/rooms/{roomId}/account_data/{type}`),

  // profile and presence
  getProfile: def<T.ProfileResponse>()("GET", `${V3}/profile/{userId}`),
  putDisplayName: def<Empty, { displayname: string }>()("PUT", `${V3}/profile/{userId}/displayname`),
  putAvatarUrl: def<Empty, { avatar_url: string }>()("PUT", `${V3}/profile/{userId}/avatar_url`),
  getPresence: def<T.PresenceResponse>()("GET", `${V3}/presence/{userId}/status`),
  putPresence: def<Empty, { presence: string; status_msg?: string }>()("PUT", `${V3}/presence/{userId}/status`),

  // media (authenticated, v1) and upload
  mediaConfig: def<T.MediaConfigResponse>()("GET", `${MEDIA_V1}/config`),
  upload: def<T.UploadResponse, undefined, { filename?: string }>()("POST", "/_matrix/media/v3/upload"),
  download: def<Uint8Array>()("GET", `${MEDIA_V1}/download/{serverName}/{mediaId}`),
  downloadLegacy: def<Uint8Array, undefined, { allow_redirect?: boolean }>()(
    "GET", "/_matrix/media/v3/download/{serverName}/{mediaId}", false),
  thumbnail: def<Uint8Array, undefined, { width: number; height: number; method?: "crop" | "scale" }>()(
    "GET", `${MEDIA_V1}/thumbnail/{serverName}/{mediaId}`),

  // end-to-end encryption
  keysUpload: def<{ one_time_key_counts: Record<string, number> }, Json>()("POST", `${V3}/keys/upload`),
  keysQuery: def<Json, Json>()("POST", `${V3}/keys/query`),
  keysClaim: def<Json, Json>()("POST", `${V3}/keys/claim`),
  keysSignaturesUpload: def<Json, Json>()("POST", `${V3}/keys/signatures/upload`),
  keysDeviceSigningUpload: def<Empty, Json>()("POST", `${V3}/keys/device_signing/upload`),
  roomKeysVersion: def<Json>()("GET", `${V3}/room_keys/version`),
  roomKeysVersionCreate: def<{ version: string }, Json>()("POST", `${V3}/room_keys/version`),
  roomKeysVersionDelete: def<Empty>()("DELETE", `${V3}/room_keys/version/{version}`),
  roomKeysUpload: def<{ etag: string; count: number }, Json, { version: string }>()("PUT", `${V3}/room_keys/keys`),
  roomKeysAll: def<{ rooms?: Record<string, { sessions?: Record<string, unknown> }> }, undefined, { version: string }>()("GET", `${V3}/room_keys/keys`),
  roomKeysSession: def<Json, undefined, { version: string }>()("GET", `${V3}/room_keys/keys/{roomId}/{sessionId}`),
  sendToDevice: def<Empty, { messages: Record<string, Record<string, unknown>> }>()(
    "PUT", `${V3}/sendToDevice/{eventType}/{txnId}`),
} as const;

/** The table's type, for generic helpers. */
export type Endpoints = typeof endpoints;

/**
 * Templates split once into literal text (even indexes) and parameter names (odd indexes): the
 * table is fixed, and a regex replacement with a callback on every request was a visible cost.
 */
const compiled = new Map<string, string[]>();

/** Fills a path template, percent-encoding each parameter. */
export function fillPath(template: string, params: Record<string, string>): string {
  let parts = compiled.get(template);
  if (parts === undefined) {
    parts = template.split(/\{(\w+)\}/);
    // Only the table's templates are kept (raw calls may build theirs anew each time).
    if (compiled.size < 256) compiled.set(template, parts);
  }
  let path = parts[0] as string;
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i] as string;
    const value = params[name];
    if (value === undefined) throw new TypeError(`missing path parameter ${name} for ${template}`);
    path += encodeURIComponent(value) + (parts[i + 1] as string);
  }
  return path;
}
