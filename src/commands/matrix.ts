/**
 * Links and mention pills in a message's HTML. Pure string handling: nothing here talks to a
 * homeserver. What counts as an identifier or a link is decided in `ids/`.
 *
 * @module
 */
import { parseMatrixLink } from "../ids/links.js";
import { lazyModule } from "../util/lazy.js";

// Loaded by the first formatted body there is to parse, not with niobot.
const htmlparser2 = lazyModule<typeof import("htmlparser2")>("htmlparser2");

/**
 * The longest `formatted_body` prefix the HTML scanners here look at. The spec caps a whole
 * event at 65 536 bytes, so no genuine message is cut; the cap only bounds hostile input.
 */
export const MAX_HTML_LENGTH = 65_536;

/**
 * The deepest element nesting the HTML scanners follow; deeper input is abandoned. The spec
 * forbids nesting tags more than 100 levels deep, and the cap keeps htmlparser2's element
 * stack (whose push is linear in its depth) from making a hostile body quadratic.
 */
export const MAX_HTML_DEPTH = 100;

/** A link found in HTML: its decoded `href` and visible text (tags stripped, entities decoded). */
export interface HtmlLink {
  readonly href: string;
  readonly text: string;
  /** Index of the `<a` in the HTML. */
  readonly index: number;
}

/**
 * Walks `html` with htmlparser2 (a linear tokenizer: no regex ever runs over the HTML) and
 * collects explicitly closed `<a href>` elements. With `leading`, it stops at the first thing
 * that is not whitespace: only a link standing first in the body is returned.
 */
function scanLinks(html: string, leading: boolean): HtmlLink[] {
  const out: HtmlLink[] = [];
  let open: { href: string; index: number; text: string } | undefined;
  let depth = 0;
  let stopped = false;
  let ending = false;
  const stop = (): void => {
    stopped = true;
    parser.pause();
  };
  const other = (): void => {
    if (leading && open === undefined && !stopped) stop();
  };
  const parser = new (htmlparser2().Parser)(
    {
      onopentag(name, attribs) {
        if (stopped) return;
        if (++depth > MAX_HTML_DEPTH) return stop();
        // Links do not nest: like a browser, htmlparser2 closes an open `<a>` at the next one.
        if (open !== undefined) return;
        if (name === "a" && attribs.href !== undefined) open = { href: attribs.href, index: parser.startIndex, text: "" };
        else other();
      },
      ontext(text) {
        if (stopped) return;
        if (open !== undefined) open.text += text;
        else if (text.trim() !== "") other();
      },
      onclosetag(name, isImplied) {
        depth--;
        if (stopped || open === undefined || name !== "a") return;
        // A link the document's end closes was never closed: not a pill.
        if (!(isImplied && ending)) out.push({ href: open.href, text: open.text, index: open.index });
        open = undefined;
        if (leading) stop();
      },
      oncomment: other,
      onprocessinginstruction: other,
      oncdatastart: other,
    },
    { decodeEntities: true },
  );
  parser.write(html.length > MAX_HTML_LENGTH ? html.slice(0, MAX_HTML_LENGTH) : html);
  if (!stopped) {
    ending = true;
    parser.end();
  }
  return out;
}

/**
 * Every `<a href>` in an HTML fragment, found by parsing (htmlparser2), never by a regex:
 * `formatted_body` is untrusted, and pattern-matching it invites catastrophic backtracking.
 * Only the first {@link MAX_HTML_LENGTH} characters are looked at.
 */
export function extractLinks(html: string): HtmlLink[] {
  return scanLinks(html, false);
}

/**
 * The link the HTML starts with (only whitespace before it), or `undefined`. Parsing stops
 * at the first element, so the cost is that of the first element alone.
 *
 * @example
 * leadingLink('<a href="https://matrix.to/#/@bot:x.org">Bot</a>: ping')?.text // => "Bot"
 */
export function leadingLink(html: string): HtmlLink | undefined {
  return scanLinks(html, true)[0];
}

/**
 * The most pills {@link userPills} reports. No real message mentions more people; the cap
 * bounds the work a hostile body full of pills causes per argument.
 */
export const MAX_USER_PILLS = 256;

let lastPills: { html: string; pills: readonly UserPill[] } = { html: "", pills: [] };

/** A user mention pill: the visible text and the user it links to. */
export interface UserPill {
  readonly text: string;
  readonly userId: string;
}

/**
 * The user mention pills of a `formatted_body`, in order; at most {@link MAX_USER_PILLS}.
 *
 * @example
 * userPills('hi <a href="https://matrix.to/#/@a:x.org">Alice</a>') // => [{ text: "Alice", userId: "@a:x.org" }]
 */
export function userPills(html: string | undefined): UserPill[] {
  if (html === undefined) return [];
  // Argument parsing asks once per user argument about the same body: parse it once.
  if (html === lastPills.html) return [...lastPills.pills];
  const out: UserPill[] = [];
  for (const { href, text } of extractLinks(html)) {
    const link = parseMatrixLink(href);
    if (link?.kind === "user" && text !== "") out.push({ text, userId: link.userId });
    if (out.length === MAX_USER_PILLS) break;
  }
  lastPills = { html, pills: out };
  return [...out];
}
