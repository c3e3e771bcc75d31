/**
 * Direct messages: `bot.sendMessage("@user:server", ...)` finds or creates the
 * user's DM room; `m.direct` helpers and the validity rules are exported for
 * bots that manage DMs themselves.
 *
 * @module
 */
export { DirectMessages, type CreateDmRoomOptions, type DirectMessagesHost, type DmRoom } from "./manager.js";
export {
  addDirectRoom,
  directPartnersOf,
  directRoomsFor,
  forgetDirectRoom,
  parseDirect,
  removeDirectRoom,
  type DirectContent,
  type DirectUpdate,
} from "./mdirect.js";
export { localVerdict, membersVerdict, snapshotOf, type DmSnapshot, type DmVerdict } from "./verdict.js";
export { M_DIRECT } from "./writer.js";
