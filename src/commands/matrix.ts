/**
 * Recognising Matrix identifiers, matrix.to / `matrix:` links and mention pills in text.
 * Pure string handling: nothing here talks to a homeserver.
 *
 * @module
 */
import { lazyModule } from "../util/lazy.js";

// Loaded by the first formatted body there is to parse, not with niobot.
const htmlparser2 = lazyModule<typeof import("htmlparser2")>("htmlparser2");

/** A server name: DNS name, IPv4 or bracketed IPv6, with an optional port. */
const SERVER = String.raw`(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?`;

/** `@localpart:server`; the localpart may use any printable ASCII except `:` (historical IDs). */
export const USER_ID = new RegExp(String.raw`^@[!-9;-~]+:${SERVER}$`);
/**
 * `!opaque:server`, or `!opaque` alone: room version 12 dropped the server part.
 */
export const ROOM_ID = new RegExp(String.raw`^![^\s:/]+(?::${SERVER})?$`);
/** `#localpart:server`. */
export const ROOM_ALIAS = new RegExp(String.raw`^#[^\s:]+:${SERVER}$`);
/** `$opaque` (room v3+) or `$opaque:server` (v1, v2). */
export const EVENT_ID = /^\$[!-~]+$/;
/** `mxc://server/mediaId`, the media ID being `[A-Za-z0-9_-]+` as the spec demands. */
export const MXC_URI = new RegExp(String.raw`^mxc://${SERVER}/[A-Za-z0-9_-]+$`);

/**
 * What a matrix.to (or `matrix:`) link points at. `via` lists the servers the link suggests
 * joining through (from `?via=`), in order.
 */
export type MatrixToLink =
  | { readonly kind: "user"; readonly userId: string }
  | { readonly kind: "room"; readonly roomIdOrAlias: string; readonly via: readonly string[] }
  | {
      readonly kind: "event";
      readonly roomIdOrAlias: string;
      readonly eventId: string;
      readonly via: readonly string[];
    };

const MATRIX_TO = /^https?:\/\/matrix\.to\/#\/(.+)$/i;
const MATRIX_URI_SIGILS: Readonly<Record<string, string>> = { u: "@", r: "#", roomid: "!", e: "$" };

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function splitQuery(s: string): { path: string; via: string[] } {
  const q = s.indexOf("?");
  if (q < 0) return { path: s, via: [] };
  return { path: s.slice(0, q), via: new URLSearchParams(s.slice(q + 1)).getAll("via") };
}

function fromParts(entity: string, eventId: string | undefined, via: string[]): MatrixToLink | null {
  if (USER_ID.test(entity)) return eventId === undefined ? { kind: "user", userId: entity } : null;
  if (!ROOM_ID.test(entity) && !ROOM_ALIAS.test(entity)) return null;
  if (eventId === undefined) return { kind: "room", roomIdOrAlias: entity, via };
  return EVENT_ID.test(eventId) ? { kind: "event", roomIdOrAlias: entity, eventId, via } : null;
}

/**
 * Parse a `https://matrix.to/#/...` link or a `matrix:` URI (MSC2312); `null` if it is
 * neither or points at nothing valid. Percent-encoding is decoded.
 *
 * @example
 * parseMatrixLink("https://matrix.to/#/!r:x.org/$ev?via=x.org")
 * // => { kind: "event", roomIdOrAlias: "!r:x.org", eventId: "$ev", via: ["x.org"] }
 * parseMatrixLink("matrix:u/alice:x.org") // => { kind: "user", userId: "@alice:x.org" }
 */
export function parseMatrixLink(link: string): MatrixToLink | null {
  const m = MATRIX_TO.exec(link);
  if (m !== null) {
    const { path, via } = splitQuery(m[1] ?? "");
    const parts = path.split("/").map(safeDecode);
    if (parts.length > 2 || parts.some((p) => p === null)) return null;
    const [entity, eventId] = parts as string[];
    return fromParts(entity ?? "", eventId, via);
  }
  if (!link.toLowerCase().startsWith("matrix:")) return null;
  const { path, via } = splitQuery(link.slice("matrix:".length));
  const parts = path.split("/").map(safeDecode);
  if (parts.some((p) => p === null)) return null;
  const [kind, id, eKind, eId] = parts as string[];
  const sigil = MATRIX_URI_SIGILS[kind ?? ""];
  if (sigil === undefined || sigil === "$" || id === undefined) return null;
  if (parts.length === 2) return fromParts(sigil + id, undefined, via);
  if (parts.length === 4 && eKind === "e" && eId !== undefined) return fromParts(sigil + id, `$${eId}`, via);
  return null;
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

/**
 * Decode the HTML entities that appear in Matrix `formatted_body` text.
 * Every quantifier is bounded, so the cost is linear in the input whatever it holds.
 *
 * @example
 * decodeHtmlEntities("Tom &amp; Jerry &#x1F600;") // => "Tom & Jerry 😀"
 */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,8}|#\d{1,10}|[a-z]{1,10});/gi, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

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
