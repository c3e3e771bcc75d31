/**
 * niobot — the TypeScript framework for Matrix bots.
 *
 * This entry point is what a bot author uses: {@link NioBot} and its options, commands and
 * their context, content helpers, errors and event types. The machinery underneath (the sync
 * engine, the room tracker, the HTTP client, stores' and crypto's internals, ...) is in
 * `niobot/advanced`. Every name is listed explicitly, so the surface grows only on purpose
 * (`test/unit/public-api.test.ts` pins the list).
 *
 * @example
 * import { NioBot } from "niobot";
 * const bot = new NioBot({ homeserver: "https://matrix.example.org", userId: "@bot:example.org" });
 *
 * @module
 */

// The bot, its options and its events.
export { NioBot, type NioBotOptions } from "./bot/bot.js";
export type { CoreBotEvents, ErrorContext } from "./bot/events.js";
export { LoginError, type Credentials, type Session } from "./bot/login.js";
export type { AutoJoinPolicy } from "./bot/autojoin.js";
export type { RetryOptions } from "./api/http.js";
export type { AutoReadReceipts, MarkReadOptions, ReplyOptions, Sendable, TypingOptions } from "./messaging/index.js";
export { handlerSignal } from "./sync/scheduler.js";
export type { Room, RoomMember } from "./sync/room.js";
export type { Store } from "./storage/store.js";
export { MemoryStore } from "./storage/memory.js";
export { SqliteStore } from "./storage/sqlite.js";
export { consoleLogger, silentLogger, type LogLevel, type Logger } from "./logging/logger.js";
export type { Kv, KvEntry, KvSpace } from "./kv/index.js";

// Event types: what handlers receive.
export { isMessageEvent } from "./api/events.js";
export type {
  ClientEvent,
  MemberEvent,
  Membership,
  MessageContent,
  MessageEvent,
  ReactionEvent,
  RedactionEvent,
  StateEvent,
} from "./api/events.js";

// Commands, their arguments, checks and context.
export {
  command,
  defineCommand,
  defineModule,
  listener,
  type CommandDefinition,
  type CommandHandler,
  type CommandOptions,
  type ModuleDefinition,
  type ModuleListeners,
} from "./commands/index.js";
export {
  arg,
  args,
  rest,
  signature,
  variadic,
  type ArgsOf,
  type SignatureOptions,
} from "./commands/index.js";
export {
  boolean,
  choice,
  event,
  float,
  integer,
  json,
  matrixTo,
  mxc,
  room,
  string,
  user,
  type ArgumentParser,
  type ChoiceOptions,
  type EventReference,
  type IntegerOptions,
  type ParameterSchema,
  type ParseContext,
  type RangeOptions,
} from "./commands/index.js";
export {
  check,
  clientHasPower,
  isDm,
  isOwner,
  senderDeviceTrusted,
  senderHasPower,
  type CheckFunction,
  type CheckLike,
  type CommandCheck,
  type CooldownOptions,
  type CooldownScope,
  type SenderPowerOptions,
} from "./commands/index.js";
export type { CommandContext, CommandResponse, CommandPrefix, WaitForMessageOptions } from "./commands/index.js";
export { defaultMessages, errorMessage, resolveMessages, type FrameworkMessages } from "./commands/index.js";

// Content: markdown, HTML, mentions, identifiers and links, attachments.
export {
  buildMessageContent,
  detectMentions,
  escapeHtml,
  htmlToPlainText,
  mentionPill,
  neutralizeMentions,
  neutralizeMentionsHtml,
  renderMarkdown,
  sanitizeHtml,
  type ContentOptions,
  type EditOptions,
  type MentionPill,
  type Mentions,
  type MentionsOption,
  type MessageFormat,
  type MessageOptions,
  type ReplyTo,
  type ThreadTarget,
} from "./content/index.js";
export { isEventId, isRoomAlias, isRoomId, isUserId, matrixToLink, parseMatrixLink, type MatrixLink } from "./ids/index.js";
export {
  Attachment,
  decryptAttachment,
  encryptAttachment,
  isAttachmentMessage,
  isEncryptedFile,
  type AttachmentInfo,
  type AttachmentKind,
  type AttachmentMessage,
  type AttachmentOptions,
  type EncryptedFile,
  type SendAttachmentOptions,
  type UrlAttachmentOptions,
} from "./attachments/index.js";

// Encryption, as far as a bot's handlers see it.
export {
  decryptionInfo,
  isDecrypted,
  type AuthChallenge,
  type Authenticate,
  type DecryptionInfo,
  type TrustMode,
} from "./crypto/index.js";

// Errors.
export { MatrixError, MatrixNetworkError, type RequestInfo } from "./api/errors.js";
export { DiscoveryError } from "./api/discovery.js";
export { HandlerTimeoutError, SyncBatchSkippedError } from "./sync/errors.js";
export { WaitTimeoutError } from "./events/emitter.js";
export { StoreLockedError } from "./storage/sqlite.js";
export { StoreFencedError, StoreUnavailableError } from "./storage/postgres/errors.js";
export { PostgresStore, type PostgresStoreOptions } from "./storage/postgres/store.js";
export { LeaseLostError, type LeaseOptions } from "./replicas/lease.js";
export {
  AppserviceIdentityError,
  RegistrationError,
  generateRegistration,
  loadRegistration,
  registrationToYaml,
  type AppserviceNamespace,
  type AppserviceOptions,
  type AppserviceRegistration,
  type GenerateRegistrationOptions,
  type VirtualUser,
  type VirtualUserProfile,
} from "./appservice/index.js";
export type { BotHealth } from "./replicas/gate.js";
export { OnceInterruptedError, OnceResultError } from "./delivery/index.js";
export { KvKeyError, KvValueError } from "./kv/index.js";
export { EditRefusedError } from "./messaging/index.js";
export { AttachmentDecryptionError, AttachmentError, AttachmentTooLargeError, MissingToolError } from "./attachments/index.js";
export {
  CryptoStoreLockedError,
  CryptoStoreLostError,
  EncryptionRequiredError,
  EncryptionStateUnknownError,
  IdentityError,
  RecoveryKeyFormatError,
  SecretStorageError,
  VerificationCancelledError,
  type SasEmoji,
  type ShortAuthString,
  type Verification,
  type VerificationState,
} from "./crypto/index.js";
export {
  BotLacksPower,
  CheckFailure,
  CommandArgumentsError,
  CommandDisabledError,
  CommandError,
  CommandOnCooldown,
  CommandParserError,
  InsufficientPower,
  NotADirectRoom,
  NotOwner,
  UntrustedDevice,
} from "./commands/index.js";
