/**
 * Links to Matrix entities ("Appendices: URIs"): `https://matrix.to/#/…` navigation links and
 * `matrix:` URIs, read and written. Mention pills are user links; permalinks are event links
 * with `via` servers to join through.
 *
 * @module
 */
import { isEventId, isRoomAlias, isRoomId, isUserId } from "./grammar.js";

/**
 * What a matrix.to or `matrix:` link points at. `via` lists the servers the link suggests
 * joining through (its `via` query parameters), in order.
 */
export type MatrixLink =
  | { readonly kind: "user"; readonly userId: string }
  | { readonly kind: "room"; readonly roomIdOrAlias: string; readonly via: readonly string[] }
  | {
      readonly kind: "event";
      readonly roomIdOrAlias: string;
      readonly eventId: string;
      readonly via: readonly string[];
    };

/** The longest link looked at; longer input is not a link (identifiers are at most 255 bytes each). */
const MAX_LINK_LENGTH = 4096;

/**
 * The `matrix:` URI types, by the sigil of the identifier they name. `user`, `room` and
 * `event` are the pre-release spellings the spec says implementations may still accept.
 */
const URI_SIGILS: Readonly<Record<string, string>> = { u: "@", user: "@", r: "#", room: "#", roomid: "!", e: "$", event: "$" };

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

function fromParts(entity: string, eventId: string | undefined, via: string[]): MatrixLink | null {
  if (isUserId(entity)) return eventId === undefined ? { kind: "user", userId: entity } : null;
  if (!isRoomId(entity) && !isRoomAlias(entity)) return null;
  if (eventId === undefined) return { kind: "room", roomIdOrAlias: entity, via };
  return isEventId(eventId) ? { kind: "event", roomIdOrAlias: entity, eventId, via } : null;
}

/** The part after `https://matrix.to/#/` (scheme and host in any case; `http` tolerated), or `undefined`. */
function matrixToFragment(link: string): string | undefined {
  const head = link.slice(0, 21).toLowerCase();
  if (head.startsWith("https://matrix.to/#/")) return link.slice(20);
  if (head.startsWith("http://matrix.to/#/")) return link.slice(19);
  return undefined;
}

/**
 * Parse a matrix.to link or a `matrix:` URI into what it points at; `null` if it is neither or
 * names nothing valid. Each path segment is percent-decoded after splitting, so a `/` encoded
 * inside an identifier stays in it. Unencoded links, which older clients produce, work too.
 *
 * For `matrix:` URIs the authority (`matrix://authority/…`, reserved) and the fragment are
 * ignored, and the pre-release types `user`, `room` and `event` are read as `u`, `r` and `e`.
 *
 * @example
 * parseMatrixLink("https://matrix.to/#/!somewhere:example.org/$event:example.org?via=elsewhere.ca")
 * // => { kind: "event", roomIdOrAlias: "!somewhere:example.org", eventId: "$event:example.org", via: ["elsewhere.ca"] }
 * parseMatrixLink("matrix:u/alice:example.org?action=chat") // => { kind: "user", userId: "@alice:example.org" }
 */
export function parseMatrixLink(link: string): MatrixLink | null {
  if (link.length > MAX_LINK_LENGTH) return null;
  const fragment = matrixToFragment(link);
  if (fragment !== undefined) {
    const { path, via } = splitQuery(fragment);
    const parts = path.split("/").map(safeDecode);
    if (parts.length > 2 || parts.some((p) => p === null)) return null;
    const [entity, eventId] = parts as string[];
    return fromParts(entity ?? "", eventId, via);
  }
  if (link.slice(0, 7).toLowerCase() !== "matrix:") return null;
  let rest = link.slice(7);
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    if (slash < 0) return null;
    rest = rest.slice(slash + 1);
  }
  const { path, via } = splitQuery(rest);
  const parts = path.split("/").map(safeDecode);
  if (parts.some((p) => p === null)) return null;
  const [kind, id, eKind, eId] = parts as string[];
  const sigil = URI_SIGILS[kind ?? ""];
  if (sigil === undefined || sigil === "$" || id === undefined) return null;
  if (parts.length === 2) return fromParts(sigil + id, undefined, via);
  if (parts.length === 4 && URI_SIGILS[eKind ?? ""] === "$" && eId !== undefined) return fromParts(sigil + id, `$${eId}`, via);
  return null;
}

/**
 * The user a link points at, if it is a user link (a mention pill's `href`), else `undefined`.
 * Surrounding whitespace is ignored.
 *
 * @example
 * userIdFromPermalink("https://matrix.to/#/%40alice%3Aexample.org") // "@alice:example.org"
 * userIdFromPermalink("matrix:u/alice:example.org?action=chat")     // "@alice:example.org"
 * userIdFromPermalink("https://matrix.to/#/!room:example.org")     // undefined
 */
export function userIdFromPermalink(href: string): string | undefined {
  const link = parseMatrixLink(href.trim());
  return link?.kind === "user" ? link.userId : undefined;
}

/**
 * Percent-encode one identifier for a link. Only what would be misread is encoded: `@`, `:`,
 * `$` and `!` stay readable, as in the spec's own examples; `#`, `/`, `?` and the rest do not.
 */
function encodeId(id: string): string {
  return encodeURIComponent(id).replace(/%40/g, "@").replace(/%3A/gi, ":").replace(/%24/g, "$");
}

function viaQuery(via: readonly string[] | undefined, first = "?"): string {
  if (via === undefined || via.length === 0) return "";
  return first + via.map((server) => `via=${encodeId(server)}`).join("&");
}

/**
 * The matrix.to link for a link target (a user, a room, or an event in a room).
 *
 * @example
 * matrixToLink({ kind: "room", roomIdOrAlias: "#somewhere:example.org", via: [] })
 * // "https://matrix.to/#/%23somewhere:example.org"
 * matrixToLink({ kind: "event", roomIdOrAlias: "!somewhere:example.org", eventId: "$event:example.org", via: ["elsewhere.ca"] })
 * // "https://matrix.to/#/!somewhere:example.org/$event:example.org?via=elsewhere.ca"
 */
export function matrixToLink(target: MatrixLink): string {
  switch (target.kind) {
    case "user":
      return `https://matrix.to/#/${encodeId(target.userId)}`;
    case "room":
      return `https://matrix.to/#/${encodeId(target.roomIdOrAlias)}${viaQuery(target.via)}`;
    case "event":
      return `https://matrix.to/#/${encodeId(target.roomIdOrAlias)}/${encodeId(target.eventId)}${viaQuery(target.via)}`;
  }
}

/**
 * The `matrix:` URI for a link target. `action` adds the spec's intent (`join` for rooms,
 * `chat` for users).
 *
 * @example
 * matrixUri({ kind: "room", roomIdOrAlias: "!somewhere:example.org", via: ["elsewhere.ca"] })
 * // "matrix:roomid/somewhere:example.org?via=elsewhere.ca"
 * matrixUri({ kind: "user", userId: "@alice:example.org" }, { action: "chat" })
 * // "matrix:u/alice:example.org?action=chat"
 */
export function matrixUri(target: MatrixLink, options: { action?: "join" | "chat" } = {}): string {
  const action = options.action === undefined ? "" : `action=${options.action}`;
  const query = (via: readonly string[]): string => {
    const v = viaQuery(via, "");
    return v === "" && action === "" ? "" : `?${[v, action].filter((s) => s !== "").join("&")}`;
  };
  const room = (id: string): string => `${id.startsWith("#") ? "r" : "roomid"}/${encodeId(id.slice(1))}`;
  switch (target.kind) {
    case "user":
      return `matrix:u/${encodeId(target.userId.slice(1))}${query([])}`;
    case "room":
      return `matrix:${room(target.roomIdOrAlias)}${query(target.via)}`;
    case "event":
      return `matrix:${room(target.roomIdOrAlias)}/e/${encodeId(target.eventId.slice(1))}${query(target.via)}`;
  }
}

/**
 * The matrix.to link for a user, as a mention pill's `href`.
 *
 * @example
 * userPermalink("@alice:example.org") // "https://matrix.to/#/@alice:example.org"
 */
export function userPermalink(userId: string): string {
  return matrixToLink({ kind: "user", userId });
}

/**
 * The matrix.to permalink to an event. Rooms that are addressed by ID are not routable on
 * their own: pass a few `via` servers likely to stay in the room (the spec suggests up to
 * three, none of them an IP address).
 *
 * @example
 * eventPermalink("!somewhere:example.org", "$event:example.org", ["elsewhere.ca"])
 * // "https://matrix.to/#/!somewhere:example.org/$event:example.org?via=elsewhere.ca"
 */
export function eventPermalink(roomId: string, eventId: string, via: readonly string[] = []): string {
  return matrixToLink({ kind: "event", roomIdOrAlias: roomId, eventId, via });
}
