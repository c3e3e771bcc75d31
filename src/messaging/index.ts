/**
 * Messaging: sending (text, replies, threads, mentions), edits, redactions,
 * reactions, typing, read receipts, the message cache, and room/account
 * management. The bot exposes its operations as its own methods (`bot.reply`,
 * `bot.edit`, ...), and room/account management as `bot.roomsApi` and `bot.accountApi`.
 * Everything it sends leaves through the outbox (`src/outbox/`).
 *
 * @module
 */
export { DEFAULT_MESSAGE_CACHE_SIZE, MessageCache } from "./cache.js";
export { composeMessage, replyMessageOptions, type ComposeDefaults, type ReplyOptions, type Sendable } from "./compose.js";
export { LruMap } from "./lru.js";
export {
  EditRefusedError,
  Messenger,
  type IncomingEvent,
  type MessagingHost,
  type MessagingOptions,
  type SentMessage,
} from "./messenger.js";
export { OwnReactions, findReaction } from "./reactions.js";
export { ReadReceipts, type AutoReadReceipts, type MarkReadOptions, type ReadReceiptsOptions } from "./receipts.js";
export {
  currentContent,
  editOf,
  isValidEditOf,
  reactionOf,
  redactedIdOf,
  relationType,
  threadRootOf,
  type EditInfo,
  type ReactionInfo,
  type RelationEmit,
} from "./relations.js";
export { AccountApi, RoomsApi, type ManagementHost } from "./rooms.js";
export { TypingIndicator, type SendTyping, type TypingOptions } from "./typing.js";
