/**
 * Recognising a command invocation in a message: reply-fallback stripping, prefix (or bot
 * mention) matching, and taking the command name off the front.
 *
 * Intended pipeline for an `m.text` event:
 * ```ts
 * const body = stripReplyFallback(content.body);
 * const html = content.formatted_body && stripReplyFallbackHtml(content.formatted_body);
 * const m = matchPrefix(body, "!", { botUserId, botDisplayName, formattedBody: html, caseInsensitive: true });
 * const cmd = m && splitCommandName(m.rest);  // { name: "ban", args: "@a:x.org spam" }
 * // look up cmd.name (case folding is the caller's choice), then parseArguments(decl, cmd.args, ctx)
 * ```
 *
 * @module
 */
import { parseMatrixLink } from "../ids/links.js";
import { lazyModule } from "../util/lazy.js";
import { MAX_HTML_DEPTH, MAX_HTML_LENGTH, leadingLink } from "./matrix.js";

/** The command prefix(es): a string, several, or a regular expression matched at the start. */
export type CommandPrefix = string | readonly string[] | RegExp;

// Loaded by the first formatted body there is to parse, not with niobot.
const htmlparser2 = lazyModule<typeof import("htmlparser2")>("htmlparser2");

/** Options of {@link matchPrefix}. */
export interface PrefixOptions {
  /** The bot's user ID: `@bot:server` at the start of a message counts as a prefix. */
  readonly botUserId: string;
  /**
   * The bot's display name, also accepted as the plain-body text of a pill when the formatted
   * body starts with a pill to the bot (in case the client wrote the name differently there).
   * A function is called only then, so most messages skip the lookup.
   */
  readonly botDisplayName?: string | (() => string | undefined);
  /** The message's `formatted_body`, reply fallback stripped: used to recognise a mention pill. */
  readonly formattedBody?: string;
  /** Match prefixes and mentions regardless of case. Never affects the returned `rest`. */
  readonly caseInsensitive: boolean;
}

/** A matched prefix. Always `prefix + rest === body`. */
export interface PrefixMatch {
  /** The exact text matched, as written in the body (for a mention: including `: ` after it). */
  readonly prefix: string;
  /** Everything after the prefix, untouched (case and whitespace preserved). */
  readonly rest: string;
  /** Whether the prefix was the bot's mention rather than a configured prefix. */
  readonly mention: boolean;
}

function startsWith(body: string, candidate: string, caseInsensitive: boolean): boolean {
  if (candidate === "") return false;
  const head = body.slice(0, candidate.length);
  return caseInsensitive ? head.toLowerCase() === candidate.toLowerCase() : head === candidate;
}

function matchRegExp(body: string, re: RegExp, caseInsensitive: boolean): string | null {
  // Sticky anchors the match at 0 without rewriting the caller's pattern; a fresh copy keeps
  // the caller's lastIndex untouched.
  const flags = re.flags.replace(/[gy]/g, "") + "y" + (caseInsensitive && !re.flags.includes("i") ? "i" : "");
  const m = new RegExp(re.source, flags).exec(body);
  return m === null || m[0] === "" ? null : m[0];
}

/** After a mention: `:` or `,` and/or whitespace, or the end of the message. */
const MENTION_SEPARATOR = /^(?:[:,]\s*|\s+|$)/;

function mentionMatch(body: string, name: string, caseInsensitive: boolean): string | null {
  if (!startsWith(body, name, caseInsensitive)) return null;
  const sep = MENTION_SEPARATOR.exec(body.slice(name.length));
  return sep === null ? null : body.slice(0, name.length + sep[0].length);
}

/** The text of the pill the formatted body starts with, if it links to `userId`. */
function leadingPillText(html: string | undefined, userId: string): string | undefined {
  if (html === undefined) return undefined;
  const first = leadingLink(html);
  if (first === undefined) return undefined;
  const link = parseMatrixLink(first.href);
  return link?.kind === "user" && link.userId === userId ? first.text : undefined;
}

/**
 * Find the command prefix at the start of `body`. The longest match wins, among:
 * - the configured prefix(es); a RegExp is matched at the start only, and an empty match
 *   doesn't count;
 * - the bot's user ID (`@bot:server: ping`, `@bot:server ping`);
 * - a mention pill of the bot: the formatted body starts with
 *   `<a href="https://matrix.to/#/@bot:server">Name</a>` and the plain body with `Name`.
 *
 * A mention consumes the `:`/`,` and whitespace after it, so `rest` starts at the command;
 * a configured prefix consumes only itself (so `! ping` has rest `" ping"`).
 *
 * @example
 * matchPrefix("!ping", ["!", "?"], opts)             // => { prefix: "!", rest: "ping", mention: false }
 * matchPrefix("@bot:x.org: ping", "!", opts)         // => { prefix: "@bot:x.org: ", rest: "ping", mention: true }
 */
export function matchPrefix(
  body: string,
  prefixes: string | readonly string[] | RegExp,
  opts: PrefixOptions,
): PrefixMatch | null {
  const found: PrefixMatch[] = [];
  if (prefixes instanceof RegExp) {
    const m = matchRegExp(body, prefixes, opts.caseInsensitive);
    if (m !== null) found.push({ prefix: m, rest: body.slice(m.length), mention: false });
  } else {
    for (const p of typeof prefixes === "string" ? [prefixes] : prefixes) {
      if (startsWith(body, p, opts.caseInsensitive)) {
        found.push({ prefix: body.slice(0, p.length), rest: body.slice(p.length), mention: false });
      }
    }
  }
  const pill = leadingPillText(opts.formattedBody, opts.botUserId);
  // The display name only counts when the formatted body proves a pill: plain text that
  // merely starts with the bot's name ("Helper is broken") is not an invocation.
  const display = opts.botDisplayName;
  const names = pill === undefined ? [opts.botUserId] : [opts.botUserId, pill, typeof display === "function" ? display() : display];
  for (const name of names) {
    const m = name === undefined ? null : mentionMatch(body, name, opts.caseInsensitive);
    if (m !== null) found.push({ prefix: m, rest: body.slice(m.length), mention: true });
  }
  return found.reduce<PrefixMatch | null>((best, m) => (best === null || m.prefix.length > best.prefix.length ? m : best), null);
}

/**
 * Take the command name off the text after the prefix: the leading run of non-whitespace.
 * `null` when `rest` is empty or starts with whitespace (`"! ping"` is not a command).
 *
 * @example
 * splitCommandName("ban  @a:x.org spam") // => { name: "ban", args: "@a:x.org spam" }
 */
export function splitCommandName(rest: string): { name: string; args: string } | null {
  const m = /^(\S+)\s*/.exec(rest);
  if (m === null) return null;
  return { name: m[1] ?? "", args: rest.slice(m[0].length) };
}

/**
 * Strip a rich-reply fallback from a plain body: the leading `>` quote lines and the one blank
 * line after them. Call it only for events that are replies (`m.relates_to.m.in_reply_to`),
 * since a non-reply may legitimately start with a quote.
 *
 * @example
 * stripReplyFallback("> <@a:x.org> hi\n> there\n\n!ping") // => "!ping"
 */
export function stripReplyFallback(body: string): string {
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && (lines[i] ?? "").startsWith(">")) i++;
  if (i === 0) return body;
  if (i < lines.length && (lines[i] ?? "").trim() === "") i++;
  return lines.slice(i).join("\n");
}

/**
 * Strip a rich-reply fallback from a formatted body: a leading `<mx-reply>...</mx-reply>`
 * block (nesting counted, as some clients nest old fallbacks). The HTML is parsed
 * (htmlparser2, linear), never pattern-matched, and only its first {@link MAX_HTML_LENGTH}
 * characters are scanned.
 *
 * @example
 * stripReplyFallbackHtml("<mx-reply><blockquote>hi</blockquote></mx-reply>!ping") // => "!ping"
 */
export function stripReplyFallbackHtml(html: string): string {
  let depth = 0;
  let nesting = 0;
  let end = -1;
  let done = false;
  let ending = false;
  const finish = (): void => {
    done = true;
    parser.pause();
  };
  // Anything but whitespace before the first element means there is no fallback.
  const notFallback = (): void => {
    if (depth === 0 && !done) finish();
  };
  const parser = new (htmlparser2().Parser)({
    onopentag(name) {
      if (done) return;
      // Too deep to be a real fallback (see MAX_HTML_DEPTH): all of it is treated as fallback.
      if (++nesting > MAX_HTML_DEPTH) return finish();
      if (name === "mx-reply") depth++;
      else notFallback();
    },
    ontext(text) {
      if (depth === 0 && text.trim() !== "") notFallback();
    },
    onclosetag(name) {
      nesting--;
      // Elements the end of the input closes were never closed: the fallback runs to the end.
      if (done || ending || name !== "mx-reply" || depth === 0) return;
      if (--depth === 0) {
        end = parser.endIndex + 1;
        finish();
      }
    },
    oncomment: notFallback,
    onprocessinginstruction: notFallback,
    oncdatastart: notFallback,
  });
  parser.write(html.length > MAX_HTML_LENGTH ? html.slice(0, MAX_HTML_LENGTH) : html);
  if (!done) {
    ending = true;
    parser.end();
  }
  if (end >= 0) return html.slice(end);
  // Unclosed: the whole body is fallback; nothing of the sender's own is left.
  return depth > 0 ? "" : html;
}
