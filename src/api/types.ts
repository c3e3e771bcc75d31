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
