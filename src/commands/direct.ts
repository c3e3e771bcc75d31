/**
 * Whether a room is a direct conversation with the bot, as the `isDm` check and `ctx.isDm()`
 * ask it. Apart from the checks so that the context can use it without importing them.
 *
 * @module
 */
import type { Room } from "../sync/room.js";

/** What {@link isDirectRoom} needs from the bot; `NioBot` satisfies it. */
export interface DirectRoomSource {
  readonly userId: string;
  getRoom(roomId: string): Room | undefined;
  /** Provided by the DM layer once it exists; preferred when present. */
  isDm?: (roomId: string) => Promise<boolean>;
}

/**
 * Whether a room is a direct conversation with the bot. Delegates to `bot.isDm(roomId)` when
 * the bot has one (the DM layer); otherwise a membership check from the sync summary, which is
 * authoritative even with lazy-loaded members: the bot has joined and the room holds exactly
 * two joined-or-invited members.
 */
export async function isDirectRoom(bot: DirectRoomSource, roomId: string): Promise<boolean> {
  if (typeof bot.isDm === "function") return bot.isDm(roomId);
  const room = bot.getRoom(roomId);
  if (room === undefined || room.membership !== "join") return false;
  const { joined, invited } = room.summary;
  if (joined === undefined) return false;
  return joined + (invited ?? 0) === 2;
}
