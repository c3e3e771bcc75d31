/**
 * Request and response bodies of the client-server API endpoints niobot uses,
 * from the OpenAPI definitions in the Matrix spec (`client-server/*.yaml`).
 */
import type { BasicEvent, ClientEvent, StateEvent, StrippedStateEvent } from "./events.js";

/** `GET /_matrix/client/versions`. */
export interface VersionsResponse {
  versions: string[];
  unstable_features?: Record<string, boolean>;
}

/** `GET /.well-known/matrix/client`. */
export interface WellKnownResponse {
  "m.homeserver": { base_url: string };
  "m.identity_server"?: { base_url: string };
  [key: string]: unknown;
}

/** `POST /login` with a password. */
export interface PasswordLoginRequest {
  type: "m.login.password";
  identifier: { type: "m.id.user"; user: string };
  password: string;
  device_id?: string;
  initial_device_display_name?: string;
  /** Ask for a refresh token (spec v1.3); servers without expiring tokens ignore it. */
  refresh_token?: boolean;
}

/** `POST /login` response. */
export interface LoginResponse {
  user_id: string;
  access_token: string;
  device_id: string;
  well_known?: WellKnownResponse;
  /** Present when the server issues expiring access tokens. */
  refresh_token?: string;
  /** Lifetime of the access token; absent means it does not expire. */
  expires_in_ms?: number;
}

/** `POST /refresh` response. */
export interface RefreshResponse {
  access_token: string;
  /** Absent: the old refresh token stays usable. */
  refresh_token?: string;
  expires_in_ms?: number;
}

/** `GET /account/whoami` response. */
export interface WhoamiResponse {
  user_id: string;
  device_id?: string;
  is_guest?: boolean;
}

/** Timeline section of a room in `/sync`. */
export interface Timeline {
  events: ClientEvent[];
  limited?: boolean;
  prev_batch?: string;
}

/** The lazy-loading member summary of a joined room. */
export interface RoomSummary {
  "m.heroes"?: string[];
  "m.joined_member_count"?: number;
  "m.invited_member_count"?: number;
}

/** A joined room in a `/sync` response. */
export interface JoinedRoomSync {
  summary?: RoomSummary;
  state?: { events: StateEvent[] };
  timeline?: Timeline;
  ephemeral?: { events: BasicEvent[] };
  account_data?: { events: BasicEvent[] };
  unread_notifications?: { highlight_count?: number; notification_count?: number };
}

/** An invited room in a `/sync` response. */
export interface InvitedRoomSync {
  invite_state?: { events: StrippedStateEvent[] };
}

/** A left room in a `/sync` response. */
export interface LeftRoomSync {
  state?: { events: StateEvent[] };
  timeline?: Timeline;
  account_data?: { events: BasicEvent[] };
}

/** `GET /sync` response. */
export interface SyncResponse {
  next_batch: string;
  rooms?: {
    join?: Record<string, JoinedRoomSync>;
    invite?: Record<string, InvitedRoomSync>;
    leave?: Record<string, LeftRoomSync>;
    knock?: Record<string, unknown>;
  };
  account_data?: { events: BasicEvent[] };
  presence?: { events: BasicEvent[] };
  to_device?: { events: BasicEvent[] };
  device_lists?: { changed?: string[]; left?: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}

/** A sync filter (`client-server/definitions/sync_filter.yaml`). */
export interface SyncFilter {
  event_fields?: string[];
  event_format?: "client" | "federation";
  account_data?: EventFilter;
  presence?: EventFilter;
  room?: {
    rooms?: string[];
    not_rooms?: string[];
    include_leave?: boolean;
    state?: RoomEventFilter;
    timeline?: RoomEventFilter;
    ephemeral?: RoomEventFilter;
    account_data?: RoomEventFilter;
  };
}

/** A filter on basic events. */
export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

/** A filter on room events. */
export interface RoomEventFilter extends EventFilter {
  lazy_load_members?: boolean;
  include_redundant_members?: boolean;
  rooms?: string[];
  not_rooms?: string[];
  contains_url?: boolean;
}

/** `POST /createRoom` body. */
export interface CreateRoomRequest {
  visibility?: "public" | "private";
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  room_version?: string;
  creation_content?: Record<string, unknown>;
  initial_state?: { type: string; state_key?: string; content: Record<string, unknown> }[];
  preset?: "private_chat" | "public_chat" | "trusted_private_chat";
  is_direct?: boolean;
  power_level_content_override?: Record<string, unknown>;
}

/** `GET /rooms/{roomId}/joined_members` response. */
export interface JoinedMembersResponse {
  joined: Record<string, { display_name?: string | null; avatar_url?: string | null }>;
}

/** `GET /rooms/{roomId}/messages` response. */
export interface MessagesResponse {
  start: string;
  end?: string;
  chunk: ClientEvent[];
  state?: StateEvent[];
}

/** `GET /profile/{userId}` response. */
export interface ProfileResponse {
  displayname?: string | null;
  avatar_url?: string | null;
  [key: string]: unknown;
}

/** `GET /directory/room/{roomAlias}` response. */
export interface RoomAliasResponse {
  room_id: string;
  servers: string[];
}

/** `GET /presence/{userId}/status` response. */
export interface PresenceResponse {
  presence: "online" | "offline" | "unavailable";
  status_msg?: string | null;
  last_active_ago?: number;
  currently_active?: boolean;
}

/** `GET /_matrix/client/v1/media/config` response. */
export interface MediaConfigResponse {
  "m.upload.size"?: number;
}

/** `POST /_matrix/media/v3/upload` response. */
export interface UploadResponse {
  content_uri: string;
}

/** Responses that only carry an event id. */
export interface EventIdResponse {
  event_id: string;
}

/** Responses that only carry a room id. */
export interface RoomIdResponse {
  room_id: string;
}

/** An empty JSON object response. */
export type EmptyResponse = Record<string, never>;

/**
 * `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync` (simplified sliding sync,
 * MSC4186) body: the fields niobot sends. `pos` and `timeout` go in the query.
 */
export interface SlidingSyncRequest {
  /** Names the connection; the server keeps one position per device and `conn_id`. */
  conn_id?: string;
  lists?: Record<string, SlidingSyncList>;
  extensions?: {
    to_device?: { enabled: boolean; since?: string; limit?: number };
    e2ee?: { enabled: boolean };
    account_data?: { enabled: boolean; lists?: string[]; rooms?: string[] };
  };
}

/** One sliding window list: the rooms at these positions, ordered by recency. */
export interface SlidingSyncList {
  /** Inclusive `[start, end]` positions. */
  ranges: [number, number][];
  /** `[type, state_key]` pairs; `"*"` is a wildcard, `$LAZY` and `$ME` are member keys. */
  required_state: [string, string][];
  timeline_limit: number;
  filters?: { is_invite?: boolean; is_dm?: boolean };
}

/** One room of a sliding sync response (joined, invited or newly left). */
export interface SlidingSyncRoom {
  /** True the first time the room is sent on this connection: the timeline is not only news. */
  initial?: boolean;
  required_state?: StateEvent[];
  /** Oldest first, like `/sync`; event ids without `room_id`. */
  timeline?: ClientEvent[];
  /** The last `num_live` timeline events happened after the request's `pos`; the others are history. */
  num_live?: number;
  limited?: boolean;
  prev_batch?: string;
  /** Present for invites (stripped state, the invite event last). */
  invite_state?: StrippedStateEvent[];
  joined_count?: number;
  invited_count?: number;
  heroes?: { user_id: string; displayname?: string }[];
  bump_stamp?: number;
  name?: string;
  is_dm?: boolean;
}

/** A simplified sliding sync response. */
export interface SlidingSyncResponse {
  /** The position to send next. */
  pos: string;
  lists?: Record<string, { count: number; ops?: { op: string; range?: [number, number]; room_ids?: string[] }[] }>;
  rooms?: Record<string, SlidingSyncRoom>;
  extensions?: {
    to_device?: { next_batch?: string; events?: BasicEvent[] };
    e2ee?: {
      device_lists?: { changed?: string[]; left?: string[] };
      device_one_time_keys_count?: Record<string, number>;
      device_unused_fallback_key_types?: string[];
    };
    account_data?: { global?: BasicEvent[]; rooms?: Record<string, BasicEvent[]> };
  };
}
