/**
 * Matrix identifiers and links, by the spec's appendices: server names, user/room/event IDs,
 * room aliases, `mxc://` URIs, matrix.to and `matrix:` links, user IDs in text, and HTML
 * character references. Pure string handling with no dependency on the rest of niobot, so
 * every layer may use it.
 *
 * @module
 */
export {
  MAX_ID_BYTES,
  isEventId,
  isMxcUri,
  isRoomAlias,
  isRoomId,
  isServerName,
  isUserId,
  isUserIdLocalpartChar,
  parseMxcUri,
  parseRoomId,
  parseServerName,
  parseUserId,
  type MxcParts,
  type RoomIdParts,
  type ServerName,
  type UserIdParts,
} from "./grammar.js";
export { eventPermalink, matrixToLink, matrixUri, parseMatrixLink, userIdFromPermalink, userPermalink, type MatrixLink } from "./links.js";
export { userIdsInText } from "./text.js";
export { decodeHtmlEntities } from "./entities.js";
