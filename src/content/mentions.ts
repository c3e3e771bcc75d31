/**
 * Mentions: finding them, making them (pills), and defusing them in text the
 * bot merely repeats.
 *
 * Background (spec "User and room mentions", "Push notifications"): since
 * v1.7 notifications for mentions come from the `m.mentions` content property
 * (`.m.rule.is_user_mention`, `.m.rule.is_room_mention`). Before that, the
 * legacy push rules `.m.rule.contains_display_name`, `.m.rule.contains_user_name`
 * and `.m.rule.roomnotif` matched the display name, the user-ID localpart and
 * `@room` as whole words in `body`. Implementations of intentional mentions
 * skip those legacy rules whenever `m.mentions` is present (and v1.17 removed
 * them), which is why every message we build carries `m.mentions`, even `{}`.
 *
 * @module
 */
import { escapeHtml, sanitizeHtml, sanitizeHtmlWithHooks, walkHtml } from "./sanitize.js";
import { isUserId } from "../ids/grammar.js";
import { userIdFromPermalink, userPermalink } from "../ids/links.js";
import { userIdsInText } from "../ids/text.js";

/** U+2060 WORD JOINER: invisible, and not a word character for push-rule matching. */
export const WORD_JOINER = "\u2060";

/**
 * Lists the user IDs a message visibly mentions: pill links
 * (`<a href="https://matrix.to/#/@u:s">` or `matrix:u/…`) and bare
 * `@user:server` IDs in the text. Order of first appearance, no duplicates.
 *
 * When `formattedBody` is given, only it is scanned: `body` is merely the
 * fallback rendering of the same content, and in HTML the text inside
 * `<code>`/`<pre>` can be told apart and skipped (an ID in a code sample is
 * not a mention). Neutralised text (see {@link neutralizeMentions}) yields
 * nothing.
 *
 * @example
 * detectMentions("hi Alice", '<a href="https://matrix.to/#/@alice:example.org">Alice</a>') // ["@alice:example.org"]
 * detectMentions("ping @bob:example.org")                                                  // ["@bob:example.org"]
 */
export function detectMentions(body: string, formattedBody?: string): string[] {
  const found = new Set<string>();
  if (formattedBody === undefined) {
    for (const id of userIdsInText(body)) found.add(id);
    return [...found];
  }
  let code = 0;
  walkHtml(sanitizeHtml(formattedBody), {
    open(tag, attribs) {
      if (tag === "code" || tag === "pre") code++;
      const id = tag === "a" && attribs.href !== undefined ? userIdFromPermalink(attribs.href) : undefined;
      if (id !== undefined) found.add(id);
    },
    close(tag) {
      if (tag === "code" || tag === "pre") code--;
    },
    text(text) {
      if (code === 0) for (const id of userIdsInText(text)) found.add(id);
    },
  });
  return [...found];
}

// One identifier character and its combining marks, right after the `@`.
const MENTION_HEAD = /[\p{L}\p{N}_.=\-/+]\p{M}*/uy;
const WORD_CHAR = /[A-Za-z0-9_]/;

/**
 * Defuses mentions in text the bot repeats (echoed user input, usernames in
 * logs, quoted messages): `@room`, `@alice:example.org`, `@alice`. The text
 * looks identical but notifies nobody, on every generation of client:
 *
 * 1. Current clients and servers notify only from `m.mentions`, which the
 *    message builder always sends; it detects mentions from the text, and
 *    neutralised text is not detected.
 * 2. Legacy push rules match `@room` and the localpart as whole words
 *    (word = `[A-Za-z0-9_]`). A U+2060 WORD JOINER after `@` breaks the
 *    literal `@room`; but the joiner is itself a word boundary, so `alice` in
 *    `@⁠alice` would still be a whole word. A second joiner after the first
 *    character splits the localpart (`@⁠a⁠lice`) so it no longer matches either.
 *
 * Limits: bare display names without `@` ("hi Alice") cannot be recognised
 * without the member list, so legacy display-name matching still applies to
 * them; only `m.mentions` protects those. Idempotent.
 *
 * @example
 * neutralizeMentions("@room look, @alice:example.org") // "@\u2060r\u2060oom look, @\u2060a\u2060lice:example.org"
 */
export function neutralizeMentions(text: string): string {
  // One left-to-right pass that judges each `@` by what precedes it in the *output*: an `@`
  // glued to a word is left alone (e-mail addresses), but once the mention before it is
  // neutralised ("@a@room" → "@⁠a⁠@room") a joiner precedes it, and legacy rules would see
  // a whole-word "@room"; so it is a mention start too.
  let out = "";
  let copied = 0;
  let lastMentionEnd = -1;
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    const glued = at > 0 && at !== lastMentionEnd && WORD_CHAR.test(text[at - 1] ?? "");
    if (glued || text[at + 1] === WORD_JOINER) continue;
    MENTION_HEAD.lastIndex = at + 1;
    const head = MENTION_HEAD.exec(text);
    if (head === null) continue;
    out += text.slice(copied, at + 1) + WORD_JOINER + head[0] + WORD_JOINER;
    copied = lastMentionEnd = at + 1 + head[0].length;
    at = copied - 1;
  }
  return out + text.slice(copied);
}

/**
 * The HTML counterpart of {@link neutralizeMentions}, for echoing someone
 * else's `formatted_body`: text is neutralised and user pills are unwrapped to
 * their (neutralised) text, so they render as plain text and are not detected
 * as mentions. Parsing is needed to tell text from markup, so the result is
 * also sanitised with {@link sanitizeHtml}.
 *
 * To put plain text into HTML, use `escapeHtml(neutralizeMentions(text))`.
 *
 * @example
 * neutralizeMentionsHtml('<a href="https://matrix.to/#/@bob:example.org">Bob</a> and @room')
 * // "Bob and @\u2060r\u2060oom"
 */
export function neutralizeMentionsHtml(html: string): string {
  return sanitizeHtmlWithHooks(html, {
    text: neutralizeMentions,
    unwrapLink: (href) => userIdFromPermalink(href) !== undefined,
  });
}

/** A mention ready to embed: `text` for `body`, `html` for `formatted_body`. */
export interface MentionPill {
  text: string;
  html: string;
}

/**
 * Builds a user mention "pill". Per the spec the anchor text is the
 * (possibly ambiguous) display name, or the user ID when there is none, and
 * the same text stands in for the link in `body`. The HTML is escaped, so
 * hostile display names are harmless. Remember to list the user in
 * `m.mentions` (the message builder's default "detect" mode finds pills).
 * The HTML also works inside markdown, where the builder substitutes the text
 * for it in `body`.
 *
 * @throws RangeError if `userId` is not a user ID.
 * @example
 * mentionPill("@alice:example.org", "Alice <3")
 * // { text: "Alice <3", html: '<a href="https://matrix.to/#/@alice:example.org">Alice &lt;3</a>' }
 */
export function mentionPill(userId: string, displayName?: string): MentionPill {
  if (!isUserId(userId)) throw new RangeError(`not a Matrix user ID: ${JSON.stringify(userId)}`);
  const text = displayName?.trim() || userId;
  return { text, html: `<a href="${escapeHtml(userPermalink(userId))}">${escapeHtml(text)}</a>` };
}
