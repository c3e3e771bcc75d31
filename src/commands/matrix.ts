/**
 * Recognising Matrix identifiers, matrix.to / `matrix:` links and mention pills in text.
 * Pure string handling: nothing here talks to a homeserver.
 *
 * @module
 */

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
 *
 * @example
 * decodeHtmlEntities("Tom &amp; Jerry &#x1F600;") // => "Tom & Jerry 😀"
 */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

/** A link found in HTML: its decoded `href` and visible text (tags stripped, entities decoded). */
export interface HtmlLink {
  readonly href: string;
  readonly text: string;
  /** Index of the `<a` in the HTML. */
  readonly index: number;
}

const ANCHOR = /<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>([\s\S]*?)<\/a\s*>/gi;

/**
 * Every `<a href>` in an HTML fragment. A regex is enough here: `formatted_body` is a small,
 * flat subset of HTML, and a mismatch only means a pill goes unrecognised.
 */
export function extractLinks(html: string): HtmlLink[] {
  const out: HtmlLink[] = [];
  for (const m of html.matchAll(ANCHOR)) {
    const href = decodeHtmlEntities(m[1] ?? m[2] ?? m[3] ?? "");
    const text = decodeHtmlEntities((m[4] ?? "").replace(/<[^>]*>/g, ""));
    out.push({ href, text, index: m.index });
  }
  return out;
}

/** A user mention pill: the visible text and the user it links to. */
export interface UserPill {
  readonly text: string;
  readonly userId: string;
}

/**
 * The user mention pills of a `formatted_body`, in order.
 *
 * @example
 * userPills('hi <a href="https://matrix.to/#/@a:x.org">Alice</a>') // => [{ text: "Alice", userId: "@a:x.org" }]
 */
export function userPills(html: string | undefined): UserPill[] {
  if (html === undefined) return [];
  const out: UserPill[] = [];
  for (const { href, text } of extractLinks(html)) {
    const link = parseMatrixLink(href);
    if (link?.kind === "user" && text !== "") out.push({ text, userId: link.userId });
  }
  return out;
}
