/**
 * niobot — the TypeScript framework for Matrix bots.
 *
 * @example
 * import { NioBot } from "niobot";
 * const bot = new NioBot({ homeserver: "https://matrix.example.org", userId: "@bot:example.org" });
 *
 * @module
 */
export { NioBot, type NioBotOptions } from "./bot/bot.js";
export type { CoreBotEvents, ErrorContext } from "./bot/events.js";
export { LoginError, type Credentials, type Session } from "./bot/login.js";
export type { AutoJoinPolicy } from "./bot/autojoin.js";

export { MatrixApi, newTxnId, type CallArgs, type CallOptions } from "./api/client.js";
export { HttpClient, type FetchLike, type HttpClientOptions, type HttpRequest, type RawResponse, type RetryOptions } from "./api/http.js";
export { MatrixError, MatrixNetworkError, isTransientError, redactPath, type RequestInfo } from "./api/errors.js";
export { discoverHomeserver, DiscoveryError, type DiscoveryOptions, type DiscoveryResult } from "./api/discovery.js";
export { endpoints, type Endpoint, type Endpoints, type PathParams, type RelationsQuery } from "./api/endpoints.js";
export type * from "./api/events.js";
export { isClientEvent, isMessageEvent } from "./api/events.js";
export type * from "./api/types.js";

export { SyncEngine, DEFAULT_SYNC_FILTER, DEFAULT_MAX_CONCURRENT_HANDLERS, DEFAULT_HANDLER_TIMEOUT_MS, type SyncEngineOptions, type SyncSink } from "./sync/engine.js";
export { HandlerTimeoutError, SyncBatchSkippedError } from "./sync/errors.js";
export { HandlerScheduler, handlerSignal, parked, type SchedulerSlot } from "./sync/scheduler.js";
export { sanitizeSyncResponse, type SanitizeReport } from "./sync/validate.js";
export { Room, TRACKED_STATE_TYPES, type RoomMember } from "./sync/room.js";
export { RoomTracker } from "./sync/tracker.js";

export type { Store, KvListOptions, StoredKvEntry, StoredLogin, StoredPendingEvent, StoreChange, StoredRoomInfo, StoredRooms, StoredStateEvent } from "./storage/store.js";
export { MemoryStore } from "./storage/memory.js";
export { SqliteStore, StoreLockedError } from "./storage/sqlite.js";
export { OnceInterruptedError, OnceResultError } from "./delivery/index.js";

export { TypedEmitter, WaitTimeoutError, type EventMap, type Listener, type ListenerErrorSink } from "./events/emitter.js";
export { consoleLogger, redactingLogger, silentLogger, type Logger, type LogFn, type LogLevel } from "./logging/logger.js";
export { forgetSecret, isSecretName, redactText, redactValue, registerSecret } from "./logging/redact.js";

export * from "./content/index.js";
export * from "./commands/index.js";
export {
  AccountApi,
  EditRefusedError,
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
  type AutoReadReceipts,
  type EditInfo,
  type ManagementHost,
  type MarkReadOptions,
  type MessagingHost,
  type MessagingOptions,
  type ReactionInfo,
  type ReadReceiptsOptions,
  type ReplyOptions,
  type Sendable,
  type SendTyping,
  type TypingOptions,
} from "./messaging/index.js";
export * from "./attachments/index.js";
export * from "./dm/index.js";
export * from "./kv/index.js";
export * from "./appservice/index.js";
export type { MemberStateLike } from "./dm/verdict.js";
export {
  BotCrypto,
  CryptoStoreLockedError,
  CryptoStoreLostError,
  EncryptionRequiredError,
  EncryptionStateUnknownError,
  decryptionInfo,
  isDecrypted,
  DECRYPTED_KEY,
  type CryptoHost,
  type CryptoOpenOptions,
  type DecryptionFailure,
  type DecryptionInfo,
  IdentityError,
  SecretStorage,
  SecretStorageError,
  RecoveryKeyFormatError,
  decodeRecoveryKey,
  encodeRecoveryKey,
  type Authenticate,
  type AuthChallenge,
  type IdentityOptions,
  type IdentityOutcome,
  type IdentityReport,
  type TrustMode,
} from "./crypto/index.js";
