/**
 * Checks: predicates a command's invocation must pass before its arguments are even parsed.
 * Built-ins (owner, direct room, power levels from the room's real state) and the plumbing to
 * run custom ones.
 *
 * A check returns `true` to pass, `false` to fail with a generic {@link CheckFailure} named
 * after it, or throws a {@link CheckFailure} (subclass) to fail with its own message. Anything
 * else it throws is a bug and is reported as such.
 *
 * @module
 */
import { decryptionInfo } from "../crypto/events.js";
import type { Room } from "../sync/room.js";
import type { CommandContext } from "./context.js";
import { isDirectRoom } from "./direct.js";
import { CheckFailure, InsufficientPower, NotADirectRoom, NotOwner, UntrustedDevice } from "./errors.js";

export { isDirectRoom, type DirectRoomSource } from "./direct.js";

/** A check as a bare function; its name (for errors and logs) is the function's name. */
export type CheckFunction = (ctx: CommandContext) => boolean | Promise<boolean>;

/** A named check. */
export interface CommandCheck {
  readonly name: string;
  readonly test: CheckFunction;
  /**
   * A privileged check (owner, power level, or a custom one that opts in):
   * in an encrypted room it also requires the sending device to be
   * cross-signed by its owner ({@link senderDeviceTrusted}), whatever the
   * bot's `trust` mode, so a device the homeserver made up for the owner's
   * account cannot pass it.
   */
  readonly privileged?: boolean;
}

/** What `checks` options and `bot.addCheck` accept. */
export type CheckLike = CommandCheck | CheckFunction;

/**
 * Names a custom check.
 *
 * @example
 * const inAllowedRoom = check("allowed-room", (ctx) => allowed.has(ctx.room.roomId));
 * bot.command("deploy", { checks: [inAllowedRoom] }, ...);
 */
export function check(name: string, test: CheckFunction, options: { privileged?: boolean } = {}): CommandCheck {
  return options.privileged ? { name, test, privileged: true } : { name, test };
}

/**
 * Whether the invoking message can be trusted for a privileged check: in an
 * unencrypted room there is no device to check; in an encrypted one the
 * message must have been decrypted and sent by a device its owner
 * cross-signed (see `DecryptionInfo.senderCrossSigned`).
 */
export function senderDeviceTrusted(ctx: Pick<CommandContext, "room" | "message">): boolean {
  if (!ctx.room.isEncrypted) return true;
  return decryptionInfo(ctx.message)?.senderCrossSigned === true;
}

/** The name a check is reported under. */
export function checkName(c: CheckLike): string {
  return typeof c === "function" ? c.name || "check" : c.name;
}

/**
 * Runs checks in order, stopping at the first failure.
 *
 * @throws {CheckFailure} for a check that returned false or threw one; other errors propagate.
 */
export async function runChecks(ctx: CommandContext, checks: Iterable<CheckLike>): Promise<void> {
  for (const c of checks) {
    if (typeof c !== "function" && c.privileged === true && !senderDeviceTrusted(ctx)) throw new UntrustedDevice(c.name);
    const ok = await (typeof c === "function" ? c(ctx) : c.test(ctx));
    if (ok !== true) throw new CheckFailure(checkName(c));
  }
}

/**
 * Whether all checks pass, swallowing failures: for help listings. Unexpected errors count as
 * failing, since help must not break because a check did.
 */
export async function passesChecks(ctx: CommandContext, checks: Iterable<CheckLike>): Promise<boolean> {
  try {
    await runChecks(ctx, checks);
    return true;
  } catch {
    return false;
  }
}

/**
 * Only the bot's owner (`ownerId` option) and the given extra users. With neither configured,
 * nobody passes; nor does an event without a sender.
 *
 * @example
 * bot.command("shutdown", { checks: [isOwner("@deputy:example.org")] }, () => bot.stop());
 */
export function isOwner(...extraIds: string[]): CommandCheck {
  return check("owner", (ctx) => {
    if (isSameUser(ctx.sender, ctx.bot.options.ownerId) || extraIds.some((id) => isSameUser(ctx.sender, id))) return true;
    throw new NotOwner();
  }, { privileged: true });
}

/** Both non-empty strings and equal: an unset owner must never match a missing sender. */
function isSameUser(sender: unknown, allowed: unknown): boolean {
  return typeof sender === "string" && sender !== "" && typeof allowed === "string" && sender === allowed;
}

/** Only in a direct conversation with the bot (see {@link isDirectRoom}). */
export function isDm(): CommandCheck {
  return check("direct-room", async (ctx) => {
    if (await isDirectRoom(ctx.bot, ctx.room.roomId)) return true;
    throw new NotADirectRoom();
  });
}

/** Room versions 1 to 11 give creators a plain (changeable) level; later ones an infinite one. */
function creatorsArePrivileged(roomVersion: string): boolean {
  if (/^\d+$/.test(roomVersion)) return Number(roomVersion) >= 12;
  // MSC4289's unstable identifier of the same rules, still found on test servers.
  return roomVersion === "org.matrix.hydra.11";
}

/** The room's creators: the sender of `m.room.create` plus, from v12, `additional_creators`. */
export function roomCreators(room: Room): string[] {
  const create = room.create;
  if (create === undefined) return [];
  const first = create.sender ?? (typeof create.creator === "string" ? create.creator : undefined);
  const out = first === undefined ? [] : [first];
  if (creatorsArePrivileged(roomVersionOf(room)) && Array.isArray(create.additional_creators)) {
    for (const id of create.additional_creators) if (typeof id === "string" && !out.includes(id)) out.push(id);
  }
  return out;
}

/** The room version from `m.room.create` (`"1"` when unspecified, as the spec says). */
export function roomVersionOf(room: Room): string {
  const v = room.create?.room_version;
  return typeof v === "string" ? v : "1";
}

/** Old rooms may hold levels as numeric strings; anything else unusable counts as absent. */
function toLevel(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === "string" && /^[+-]?\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * A user's power level in a room from its state, following the spec: in room version 12 and
 * later the creators have infinite power (`Infinity`); otherwise `users[userId]`, else
 * `users_default`, else 0; without a power-levels event the creator has 100 and everyone else 0.
 *
 * @example
 * powerLevelOf(room, "@mod:example.org") // => 50
 */
export function powerLevelOf(room: Room, userId: string): number {
  const creators = roomCreators(room);
  if (creatorsArePrivileged(roomVersionOf(room)) && creators.includes(userId)) return Infinity;
  const levels = room.powerLevels;
  if (levels === undefined) return creators[0] === userId ? 100 : 0;
  const users = typeof levels.users === "object" && levels.users !== null ? levels.users : {};
  const own = Object.hasOwn(users, userId) ? toLevel(users[userId]) : undefined;
  return own ?? toLevel(levels.users_default) ?? 0;
}

/** Options of {@link senderHasPower}. */
export interface SenderPowerOptions {
  /**
   * Let the room's creator(s) pass whatever their level (in versions before 12 a creator can
   * have been demoted). Default false. From v12 creators pass anyway: their power is infinite.
   */
  readonly roomCreatorBypass?: boolean;
}

/**
 * The sender's power level in the room must be at least `level`.
 *
 * @example
 * bot.command("kick", { args: "<user:user>", checks: [senderHasPower(50)] }, ...);
 */
export function senderHasPower(level: number, options: SenderPowerOptions = {}): CommandCheck {
  return check("power-level", (ctx) => {
    if (options.roomCreatorBypass === true && roomCreators(ctx.room).includes(ctx.sender)) return true;
    const actual = powerLevelOf(ctx.room, ctx.sender);
    if (actual >= level) return true;
    throw new InsufficientPower(level, actual);
  }, { privileged: true });
}

/** The bot itself lacks the power level a command needs in the room. Check name: `"client-power-level"`. */
export class BotLacksPower extends CheckFailure {
  override readonly name: string = "BotLacksPower";
  readonly required: number;
  readonly actual: number;

  constructor(required: number, actual: number) {
    super("client-power-level", `I need power level ${required} in this room to do that (I have ${actual}).`);
    this.required = required;
    this.actual = actual;
  }
}

/**
 * The bot's own power level in the room must be at least `level` (say, to kick someone).
 *
 * @example
 * bot.command("kick", { checks: [senderHasPower(50), clientHasPower(50)] }, ...);
 */
export function clientHasPower(level: number): CommandCheck {
  return check("client-power-level", (ctx) => {
    const actual = powerLevelOf(ctx.room, ctx.bot.userId);
    if (actual >= level) return true;
    throw new BotLacksPower(level, actual);
  });
}
