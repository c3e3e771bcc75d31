/**
 * The identifier grammar of the Matrix spec ("Appendices: Identifier Grammar"): server names,
 * user IDs, room IDs, room aliases, event IDs and `mxc://` URIs. The one place in niobot that
 * decides what an identifier is; commands, DMs and content all ask here.
 *
 * Every check is a single left-to-right scan over a string already capped at 255 bytes (the
 * spec's limit for every identifier), so no input, however hostile, costs more than that.
 *
 * @module
 */

/** The most bytes the spec allows in a user ID, room ID, room alias or event ID. */
export const MAX_ID_BYTES = 255;

/** A server name taken apart: see {@link parseServerName}. */
export interface ServerName {
  /** The host as written: a DNS name, a dotted-quad IPv4 literal, or an IPv6 literal *with* its brackets. */
  readonly host: string;
  /** Which kind of host it is. */
  readonly kind: "dns" | "ipv4" | "ipv6";
  /** The explicit port, if any. */
  readonly port?: number;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isDnsChar = (c: number): boolean => isDigit(c) || isAlpha(c) || c === 0x2d || c === 0x2e;

/** `1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT`, each number 0–255 as the prose demands. */
function isIpv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => p.length >= 1 && p.length <= 3 && [...p].every((c) => isDigit(c.charCodeAt(0))) && Number(p) <= 255);
}

/** Whether the `h16` groups of one side of an IPv6 `::` are well formed; -1 if not, else their count. */
function ipv6Groups(side: string): number {
  if (side === "") return 0;
  const groups = side.split(":");
  return groups.every((g) => g.length >= 1 && g.length <= 4 && [...g].every((c) => isHex(c.charCodeAt(0)))) ? groups.length : -1;
}

/**
 * An IPv6 address as RFC 3513 section 2.2 writes it (what the spec asks of the literal inside
 * the brackets): eight groups of up to four hex digits, one `::` standing for a run of zero
 * groups, and an optional dotted-quad IPv4 address as the last 32 bits.
 */
function isIpv6(s: string): boolean {
  // The grammar's own bound: `2*45IPv6char`.
  if (s.length < 2 || s.length > 45) return false;
  let groups = s;
  let extra = 0;
  const lastColon = s.lastIndexOf(":");
  if (lastColon < 0) return false;
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    // A dotted-quad tail fills the last two groups. Its colon separates it from the groups
    // before, unless it is part of a `::`.
    if (!isIpv4(tail)) return false;
    extra = 2;
    groups = s.slice(0, lastColon + 1);
    if (!groups.endsWith("::")) groups = groups.slice(0, -1);
  }
  const gap = groups.indexOf("::");
  if (gap < 0) {
    return ipv6Groups(groups) >= 0 && ipv6Groups(groups) + extra === 8;
  }
  if (groups.indexOf("::", gap + 1) >= 0) return false;
  const before = ipv6Groups(groups.slice(0, gap));
  const after = ipv6Groups(groups.slice(gap + 2));
  return before >= 0 && after >= 0 && before + after + extra <= 7;
}

/**
 * Take a server name apart: `hostname [ ":" port ]`, the hostname being a DNS name, a
 * dotted-quad IPv4 literal or a bracketed IPv6 literal. `undefined` if it is not one.
 *
 * A DNS name is what the grammar allows (`1*255` of letters, digits, `-` and `.`); a name shaped
 * like an IPv4 address must be one (each number at most 255). Server names are
 * case-sensitive, so nothing is lower-cased.
 *
 * @example
 * parseServerName("matrix.org:8888")        // { host: "matrix.org", kind: "dns", port: 8888 }
 * parseServerName("[1234:5678::abcd]:5678") // { host: "[1234:5678::abcd]", kind: "ipv6", port: 5678 }
 * parseServerName("matrix.org:")            // undefined
 */
export function parseServerName(name: string): ServerName | undefined {
  let host: string;
  let rest: string;
  let kind: ServerName["kind"];
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0 || !isIpv6(name.slice(1, close))) return undefined;
    host = name.slice(0, close + 1);
    rest = name.slice(close + 1);
    kind = "ipv6";
  } else {
    const colon = name.indexOf(":");
    host = colon < 0 ? name : name.slice(0, colon);
    rest = colon < 0 ? "" : name.slice(colon);
    if (host.length < 1 || host.length > 255) return undefined;
    for (let i = 0; i < host.length; i++) if (!isDnsChar(host.charCodeAt(i))) return undefined;
    const quad = host.split(".");
    const ipv4Shaped = quad.length === 4 && quad.every((p) => p.length >= 1 && p.length <= 3 && [...p].every((c) => isDigit(c.charCodeAt(0))));
    if (ipv4Shaped && !isIpv4(host)) return undefined;
    kind = ipv4Shaped ? "ipv4" : "dns";
  }
  if (rest === "") return { host, kind };
  // `port = 1*5DIGIT`
  const port = rest.slice(1);
  if (rest[0] !== ":" || port.length < 1 || port.length > 5) return undefined;
  for (let i = 0; i < port.length; i++) if (!isDigit(port.charCodeAt(i))) return undefined;
  return { host, kind, port: Number(port) };
}

/**
 * Whether `name` is a server name (see {@link parseServerName}).
 *
 * @example
 * isServerName("1.2.3.4:1234") // true
 * isServerName("[::1]")        // true
 * isServerName("exa mple.org") // false
 */
export function isServerName(name: string): boolean {
  return parseServerName(name) !== undefined;
}

/** The UTF-8 length of `s`, or `Infinity` once it passes {@link MAX_ID_BYTES}. */
function utf8Length(s: string): number {
  if (s.length > MAX_ID_BYTES) return Infinity;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
  }
  return bytes;
}

/**
 * Whether `s` is an opaque localpart as room IDs and aliases allow it: at least one character,
 * no `:`, and only well-formed code points. The spec tolerates whitespace and control
 * characters there too, but no server generates them and no text a bot is handed can carry
 * them as one word, so they are refused.
 */
function isOpaque(s: string): boolean {
  if (s === "") return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x3a || (c >= 0x80 && c <= 0x9f) || /\s/.test(s[i] ?? "")) return false;
    if (c >= 0xdc00 && c <= 0xdfff) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

/** `sigil localpart ":" server_name`, split at the first `:` (localparts never contain one). */
function split(id: string, sigil: string): { localpart: string; serverName: string } | undefined {
  if (id[0] !== sigil) return undefined;
  const colon = id.indexOf(":");
  if (colon < 0) return undefined;
  return { localpart: id.slice(1, colon), serverName: id.slice(colon + 1) };
}

/** A user ID taken apart: see {@link parseUserId}. */
export interface UserIdParts {
  readonly localpart: string;
  readonly serverName: string;
  /**
   * Whether the localpart uses characters only the historical grammar allows (upper case,
   * most punctuation). Such IDs exist and must be accepted, but none is created any more.
   */
  readonly historical: boolean;
}

/** The localpart characters of the current grammar: `a-z`, `0-9`, `-` `.` `=` `_` `/` `+`. */
export function isUserIdLocalpartChar(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x3d || c === 0x5f || c === 0x2f || c === 0x2b;
}

/**
 * Take a user ID (`@localpart:server_name`, at most 255 bytes) apart; `undefined` if it is not
 * one. The localpart may use the historical grammar's characters (any printable ASCII but `:`),
 * since accounts with such IDs are still active; localparts the spec calls non-compliant
 * (empty, or with characters outside U+0021–U+007E) are refused.
 *
 * @example
 * parseUserId("@alice:example.org") // { localpart: "alice", serverName: "example.org", historical: false }
 * parseUserId("@Alice!:example.org")?.historical // true
 */
export function parseUserId(id: string): UserIdParts | undefined {
  if (id.length > MAX_ID_BYTES) return undefined;
  const parts = split(id, "@");
  if (parts === undefined || parts.localpart === "" || !isServerName(parts.serverName)) return undefined;
  let historical = false;
  for (let i = 0; i < parts.localpart.length; i++) {
    const c = parts.localpart.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return undefined;
    if (!isUserIdLocalpartChar(c)) historical = true;
  }
  return { ...parts, historical };
}

/**
 * Whether `id` is a user ID (historical localparts included: see {@link parseUserId}).
 *
 * @example
 * isUserId("@alice:example.org") // true
 * isUserId("alice")              // false
 */
export function isUserId(id: string): boolean {
  return parseUserId(id) !== undefined;
}

/** A room ID taken apart: see {@link parseRoomId}. */
export interface RoomIdParts {
  /** What follows the `!` up to the `:`, or all of it when there is no server name. */
  readonly opaque: string;
  /** The server that created the room, in room versions before 12; only for namespacing. */
  readonly serverName?: string;
}

/**
 * Take a room ID apart: `!opaque_id:server_name`, or `!opaque_id` alone (room version 12 and
 * later have no server name). At most 255 bytes. `undefined` if it is not one.
 *
 * @example
 * parseRoomId("!somewhere:example.org") // { opaque: "somewhere", serverName: "example.org" }
 * parseRoomId("!JfKPZ9WbtuovhqTHgBITKWqCczAEUvJeyuuNVSXxKY8") // { opaque: "JfKPZ9Wb…" }
 */
export function parseRoomId(id: string): RoomIdParts | undefined {
  if (id[0] !== "!" || utf8Length(id) > MAX_ID_BYTES) return undefined;
  const colon = id.indexOf(":");
  if (colon < 0) return isOpaque(id.slice(1)) ? { opaque: id.slice(1) } : undefined;
  const opaque = id.slice(1, colon);
  const serverName = id.slice(colon + 1);
  return isOpaque(opaque) && isServerName(serverName) ? { opaque, serverName } : undefined;
}

/**
 * Whether `id` is a room ID (see {@link parseRoomId}).
 *
 * @example
 * isRoomId("!somewhere:example.org") // true
 * isRoomId("#somewhere:example.org") // false
 */
export function isRoomId(id: string): boolean {
  return parseRoomId(id) !== undefined;
}

/**
 * Whether `alias` is a room alias: `#localpart:server_name`, at most 255 bytes, the localpart
 * any characters but `:` (see the note on whitespace at the top of this module).
 *
 * @example
 * isRoomAlias("#somewhere:example.org") // true
 * isRoomAlias("#somewhere")             // false
 */
export function isRoomAlias(alias: string): boolean {
  if (utf8Length(alias) > MAX_ID_BYTES) return false;
  const parts = split(alias, "#");
  return parts !== undefined && isOpaque(parts.localpart) && isServerName(parts.serverName);
}

/**
 * Whether `id` is an event ID: `$` and at least one printable ASCII character, at most 255
 * bytes. That covers both `$opaque_id:server_name` (room versions 1 and 2) and the base64
 * hashes of later versions; the rest is opaque to clients.
 *
 * @example
 * isEventId("$event:example.org")                          // true
 * isEventId("$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk") // true
 * isEventId("$")                                           // false
 */
export function isEventId(id: string): boolean {
  if (id.length < 2 || id.length > MAX_ID_BYTES || id[0] !== "$") return false;
  for (let i = 1; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** An `mxc://` URI taken apart. */
export interface MxcParts {
  readonly serverName: string;
  readonly mediaId: string;
}

/**
 * Take an `mxc://server_name/media_id` URI apart; the media ID must be `[A-Za-z0-9_-]+`, as
 * the spec's content repository demands. `undefined` if it is not one.
 *
 * @example
 * parseMxcUri("mxc://example.org/abc_DEF-123") // { serverName: "example.org", mediaId: "abc_DEF-123" }
 */
export function parseMxcUri(uri: string): MxcParts | undefined {
  if (!uri.startsWith("mxc://") || uri.length > 2048) return undefined;
  const slash = uri.indexOf("/", 6);
  if (slash < 0) return undefined;
  const serverName = uri.slice(6, slash);
  const mediaId = uri.slice(slash + 1);
  if (mediaId === "" || !isServerName(serverName)) return undefined;
  for (let i = 0; i < mediaId.length; i++) {
    const c = mediaId.charCodeAt(i);
    if (!(isDigit(c) || isAlpha(c) || c === 0x5f || c === 0x2d)) return undefined;
  }
  return { serverName, mediaId };
}

/**
 * Whether `uri` is an `mxc://` URI (see {@link parseMxcUri}).
 *
 * @example
 * isMxcUri("mxc://example.org/abc") // true
 * isMxcUri("mxc://example.org/a.png") // false
 */
export function isMxcUri(uri: string): boolean {
  return parseMxcUri(uri) !== undefined;
}
