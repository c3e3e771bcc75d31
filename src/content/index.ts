/**
 * Pure message-content building: markdown, sanitising, mentions, and the
 * `m.room.message` / `m.reaction` builders.
 *
 * @module
 */
export * from "./types.js";
export {
  MARKDOWN_MAX_DELIMITERS,
  MARKDOWN_MAX_LENGTH,
  MARKDOWN_MAX_NESTING,
  renderMarkdown,
  type RenderedMarkdown,
} from "./markdown.js";
export {
  ALLOWED_LINK_SCHEMES,
  ALLOWED_TAGS,
  escapeHtml,
  safeLinkHref,
  sanitizeHtml,
  walkHtml,
  type HtmlWalker,
} from "./sanitize.js";
export { htmlToPlainText } from "./plaintext.js";
export {
  WORD_JOINER,
  detectMentions,
  mentionPill,
  neutralizeMentions,
  neutralizeMentionsHtml,
  type MentionPill,
} from "./mentions.js";
export {
  buildEditContent,
  buildMessageContent,
  mergeContent,
  buildReactionContent,
  replyTargetFromEvent,
  withEmojiPresentation,
  type ContentOptions,
  type EditOptions,
  type MentionsOption,
  type MessageFormat,
  type MessageOptions,
  type ReplyTo,
  type ThreadTarget,
} from "./message.js";
