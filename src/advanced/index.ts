/**
 * `niobot/advanced`: the machinery under `NioBot`, for code that builds on it rather than
 * with it — a custom store, a sync loop of your own, a bridge-like tool, a test harness.
 *
 * What is here is public and documented, but it is not the bot author's API: names change
 * more readily than those of `niobot` itself, and most bots never need any of them. See
 * `docs/guides/advanced.md`.
 *
 * @example
 * import { MatrixApi, HttpClient } from "niobot/advanced";
 *
 * @module
 */
// The client-server API: HTTP with retries and rate limits, typed endpoints, discovery.
export { MatrixApi, newTxnId, type CallArgs, type CallOptions } from "../api/client.js";
export { HttpClient, type FetchLike, type HttpClientOptions, type HttpRequest, type RawResponse } from "../api/http.js";
export { isTransientError, redactPath } from "../api/errors.js";
export { discoverHomeserver, type DiscoveryOptions, type DiscoveryResult } from "../api/discovery.js";
export { endpoints, type Endpoint, type Endpoints, type PathParams, type RelationsQuery } from "../api/endpoints.js";
export { isClientEvent } from "../api/events.js";
export type {
  AnnotationContent,
  BasicEvent,
  CreateContent,
  EncryptionContent,
  EventRelation,
  MemberContent,
  NameContent,
  PowerLevelsContent,
  RedactionContent,
  StrippedStateEvent,
  TombstoneContent,
  UnsignedData,
} from "../api/events.js";
export type {
  CreateRoomRequest,
  EmptyResponse,
  EventFilter,
  EventIdResponse,
  InvitedRoomSync,
  JoinedMembersResponse,
  JoinedRoomSync,
  LeftRoomSync,
  LoginResponse,
  MediaConfigResponse,
  MessagesResponse,
  PasswordLoginRequest,
  PresenceResponse,
  ProfileResponse,
  RefreshResponse,
  RoomAliasResponse,
  RoomEventFilter,
  RoomIdResponse,
  RoomSummary,
  SyncFilter,
  SyncResponse,
  Timeline,
  UploadResponse,
  VersionsResponse,
  WellKnownResponse,
  WhoamiResponse,
} from "../api/types.js";

// Sync: the engine, the handler scheduler, validation, room state.
export {
  SyncEngine,
  DEFAULT_SYNC_FILTER,
  DEFAULT_MAX_CONCURRENT_HANDLERS,
  DEFAULT_HANDLER_TIMEOUT_MS,
  type SyncEngineOptions,
  type SyncSink,
} from "../sync/engine.js";
export { HandlerScheduler, parked, type SchedulerSlot } from "../sync/scheduler.js";
export { sanitizeSyncResponse, type SanitizeReport } from "../sync/validate.js";
export { Room, TRACKED_STATE_TYPES } from "../sync/room.js";
export { RoomTracker } from "../sync/tracker.js";

// Storage: the store interface's records, for writing a store of your own.
export type {
  KvListOptions,
  StoreChange,
  StoredKvEntry,
  StoredLogin,
  StoredPendingEvent,
  StoredRoomInfo,
  StoredRooms,
  StoredStateEvent,
} from "../storage/store.js";
export {
  Kv,
  KvEntry,
  KvSpace,
  KV_MAX_KEY_LENGTH,
  KV_MAX_VALUE_BYTES,
  type KvEntriesOptions,
  type KvSetOptions,
  type KvSpaceOptions,
  type KvValueErrcode,
} from "../kv/index.js";

// Events and logging.
export { TypedEmitter, type EventMap, type Listener, type ListenerErrorSink } from "../events/emitter.js";
export { redactingLogger, type LogFn } from "../logging/logger.js";
export { forgetSecret, isSecretName, redactText, redactValue, registerSecret } from "../logging/redact.js";

// Messaging: the messenger and its parts.
export {
  AccountApi,
  MessageCache,
  Messenger,
  ReadReceipts,
  RoomsApi,
  TypingIndicator,
  currentContent,
  editOf,
  isValidEditOf,
  reactionOf,
  redactedIdOf,
  threadRootOf,
  type EditInfo,
  type ManagementHost,
  type MessagingHost,
  type MessagingOptions,
  type ReactionInfo,
  type ReadReceiptsOptions,
  type SendTyping,
} from "../messaging/index.js";

// Commands: the router, registry and the text-level layer under them.
export {
  Arg,
  Command,
  CommandContext,
  CommandRegistry,
  CommandResponse,
  CommandRouter,
  CooldownBuckets,
  ModuleHost,
  DEFAULT_ALIAS_LOOKUP_TIMEOUT_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  MAX_HTML_DEPTH,
  MAX_HTML_LENGTH,
  MAX_USER_PILLS,
  Tokenizer,
  builtinParsers,
  checkName,
  compileSignature,
  defaultErrorMessage,
  extractLinks,
  formatDuration,
  helpCommand,
  isDirectRoom,
  joinArguments,
  leadingLink,
  matchPrefix,
  parseArguments,
  passesChecks,
  powerLevelOf,
  quote,
  quoteInput,
  roomCreators,
  roomVersionOf,
  runChecks,
  specsOf,
  splitArguments,
  splitCommandName,
  splitWithOffsets,
  stripReplyFallback,
  stripReplyFallbackHtml,
  usageOf,
  usageOfSpecs,
  userPills,
  validateSpecs,
  waitForMessage,
  type AnyCommandDefinition,
  type ArgsFor,
  type ArgumentDeclaration,
  type ArgumentDefault,
  type ArgumentInput,
  type ArgumentList,
  type ArgumentMode,
  type ArgumentSpec,
  type ArgumentsErrorReason,
  type BuiltinTypeName,
  type BuiltinTypes,
  type CommandOptionsFor,
  type DeclarationFor,
  type DirectRoomSource,
  type HtmlLink,
  type InputToken,
  type Invocation,
  type KnownBotEvent,
  type MountedModule,
  type NoArgs,
  type OutgoingContent,
  type ParseOptions,
  type ParsedType,
  type ParserErrorInit,
  type PrefixMatch,
  type PrefixOptions,
  type RestOf,
  type RouterOptions,
  type SignatureArgs,
  type Token,
  type TokenizerOptions,
  type TypesWith,
  type UserPill,
  type ValidateSignature,
  type VariadicOf,
} from "../commands/index.js";

// Content: the rest of the builders and the HTML layer.
export {
  ALLOWED_LINK_SCHEMES,
  ALLOWED_TAGS,
  HTML_FORMAT,
  MARKDOWN_MAX_DELIMITERS,
  MARKDOWN_MAX_LENGTH,
  MARKDOWN_MAX_NESTING,
  WORD_JOINER,
  buildEditContent,
  buildReactionContent,
  mergeContent,
  replyTargetFromEvent,
  safeLinkHref,
  walkHtml,
  withEmojiPresentation,
  type AnnotationRelation,
  type FormattedBody,
  type HtmlWalker,
  type InReplyTo,
  type MessageType,
  type ReactionContent,
  type RelatesTo,
  type RenderedMarkdown,
  type ReplacementContent,
  type ReplaceRelation,
  type ReplyRelation,
  type RoomMessageContent,
  type TextMessageContent,
  type ThreadRelation,
} from "../content/index.js";

// Matrix identifiers and links, all of them.
export {
  MAX_ID_BYTES,
  decodeHtmlEntities,
  eventPermalink,
  isMxcUri,
  isServerName,
  matrixUri,
  parseMxcUri,
  parseRoomId,
  parseServerName,
  parseUserId,
  userIdFromPermalink,
  userIdsInText,
  userPermalink,
  type MxcParts,
  type RoomIdParts,
  type ServerName,
  type UserIdParts,
} from "../ids/index.js";
export { isRecord } from "../util/record.js";

// Attachments: preparing, uploading and downloading by hand.
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_THUMBNAIL_SIZE,
  MediaClient,
  attachmentContent,
  blurhashOf,
  buildAttachmentContent,
  detectMimeType,
  extensionForMime,
  filenameFromDisposition,
  kindForMime,
  makeThumbnail,
  mimeFromFilename,
  parseMxc,
  prepareAttachment,
  probeAudio,
  probeImage,
  probeVideo,
  readCapped,
  roomNeedsEncryption,
  sendAttachment,
  unpaddedBase64,
  uploadAttachment,
  uploadPrepared,
  urlSafeBase64,
  type AttachmentContent,
  type AttachmentContentOptions,
  type AttachmentHost,
  type AttachmentSource,
  type ByteStream,
  type DownloadedMedia,
  type EncodedImage,
  type EncryptedAttachment,
  type EncryptedFileKey,
  type ImageProbe,
  type LoadContext,
  type LoadedSource,
  type MediaClientOptions,
  type PrepareContext,
  type PreparedAttachment,
  type ThumbnailFormat,
  type ThumbnailInfo,
  type ThumbnailSize,
  type UploadedAttachment,
  type VideoProbe,
} from "../attachments/index.js";

// Direct messages: m.direct handling and the one-to-one checks.
export {
  DirectMessages,
  M_DIRECT,
  addDirectRoom,
  directPartnersOf,
  directRoomsFor,
  forgetDirectRoom,
  localVerdict,
  membersVerdict,
  parseDirect,
  removeDirectRoom,
  snapshotOf,
  type CreateDmRoomOptions,
  type DirectContent,
  type DirectMessagesHost,
  type DirectUpdate,
  type DmRoom,
  type DmSnapshot,
  type DmVerdict,
} from "../dm/index.js";
export type { MemberStateLike } from "../dm/verdict.js";

// Encryption: the crypto machine wrapper, secret storage, recovery keys.
export {
  DECRYPTED_KEY,
  SecretStorage,
  decodeRecoveryKey,
  encodeRecoveryKey,
  type CryptoHost,
  type CryptoOpenOptions,
  type DecryptionFailure,
  type IdentityOptions,
  type IdentityOutcome,
  type IdentityReport,
} from "../crypto/index.js";

// Appservice mode: the server, the transaction engine, virtual users.
export {
  Appservice,
  AppserviceServer,
  NamespaceMatcher,
  TransactionEngine,
  TransactionIncompleteError,
  VirtualUser,
  escapeRegex,
  parseRegistration,
  validateRegistration,
  type AppserviceHandlers,
  type AppserviceHost,
  type AppserviceServerOptions,
  type AppserviceStartOptions,
  type ListenOptions,
  type TransactionBody,
  type TransactionEngineOptions,
  type VirtualUserHost,
} from "../appservice/index.js";

// Replicas and the PostgreSQL store's internals.
export { Lease } from "../replicas/lease.js";
export { ReplicaGate } from "../replicas/gate.js";

// The crypto machine wrapper: importing niobot/advanced loads the wasm library with it (the root does not).
export { BotCrypto } from "../crypto/crypto.js";
