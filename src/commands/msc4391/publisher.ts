/**
 * Publishing command descriptions (MSC4391) into the rooms the bot is in, in the background.
 *
 * One worker, one request at a time. The queue holds room IDs, at most one entry per room
 * (a change while a room waits adds nothing), so it is bounded by the number of joined rooms.
 * A room is reconciled against its synced state: descriptions already there with the same
 * content are not sent again, and the bot's descriptions of commands that no longer exist are
 * cleared (empty content, the usual way to remove a state event). Rooms where the bot's power
 * level is below what the description event needs are skipped without trying. Rate limits:
 * the transport waits out `M_LIMIT_EXCEEDED` (`retry_after_ms`) for each request; when it gives
 * up (the wait exceeds `retry.maxRateLimitWaitMs`), the worker itself sleeps that long before
 * taking the room up again.
 *
 * @module
 */
import { AsyncResource } from "node:async_hooks";
import { MatrixError } from "../../api/errors.js";
import type { ClientEvent, PowerLevelsContent, StateEvent } from "../../api/events.js";
import type { Room } from "../../sync/room.js";
import { isAbortError, sleep } from "../../util/async.js";
import { powerLevelOf } from "../checks.js";
import type { CommandHost } from "../host.js";
import type { CommandRegistry } from "../registry.js";
import { describeCommands, sameContent } from "./description.js";
import { COMMAND_DESCRIPTION_EVENT_TYPE, type CommandDescriptionContent } from "./schema.js";

/** How long to pause after a rate limit whose response named no wait. */
const DEFAULT_RATE_LIMIT_PAUSE_MS = 5_000;

/** Counters of what the publisher did since the bot was created. */
export interface PublisherStats {
  /** Descriptions sent (new or changed). */
  published: number;
  /** Stale descriptions cleared. */
  removed: number;
  /** Rooms reconciled where everything was already up to date or got sent. */
  roomsReconciled: number;
  /** Rooms skipped because the bot may not send the description event there. */
  roomsSkipped: number;
  /** Rate limits the worker had to wait out itself (beyond the transport's own waits). */
  rateLimited: number;
}

function toLevel(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === "string" && /^[+-]?\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * The power level needed to send a state event of `type`: `events[type]`, else `state_default`
 * (50 when the power-levels event leaves it out, 0 when the room has no power-levels event).
 */
export function stateEventLevel(powerLevels: PowerLevelsContent | undefined, type: string): number {
  if (powerLevels === undefined) return 0;
  const events = typeof powerLevels.events === "object" && powerLevels.events !== null ? powerLevels.events : {};
  const own = Object.hasOwn(events, type) ? toLevel(events[type]) : undefined;
  return own ?? toLevel(powerLevels.state_default) ?? 50;
}

/** Whether the bot may send command descriptions in the room, from its synced state. */
export function canPublishIn(room: Room, botUserId: string): boolean {
  return powerLevelOf(room, botUserId) >= stateEventLevel(room.powerLevels, COMMAND_DESCRIPTION_EVENT_TYPE);
}

/** State changes after which a room is looked at again. */
function concernsPublishing(event: ClientEvent, botUserId: string): boolean {
  if (event.state_key === undefined) return false;
  if (event.type === "m.room.power_levels") return true;
  // Someone else changed (or cleared) one of the descriptions.
  return event.type === COMMAND_DESCRIPTION_EVENT_TYPE && event.sender !== botUserId;
}

function isRateLimit(error: unknown): error is MatrixError {
  return error instanceof MatrixError && (error.status === 429 || error.errcode === "M_LIMIT_EXCEEDED");
}

/**
 * Keeps every joined room's command descriptions in line with the registry (`publishCommands`).
 * The command router creates it; it starts with the bot's `ready` event and stops with `stopped`.
 */
export class CommandPublisher {
  readonly #bot: CommandHost;
  readonly #registry: CommandRegistry;
  readonly #queue = new Set<string>();
  /** What to publish, by state key; recomputed after a registry change. */
  #desired: Map<string, CommandDescriptionContent> | undefined;
  #live = false;
  #abort = new AbortController();
  #worker: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  /** Starts the worker in the context the publisher was made in, not in a sync handler's. */
  readonly #spawn: () => void;
  readonly stats: PublisherStats = { published: 0, removed: 0, roomsReconciled: 0, roomsSkipped: 0, rateLimited: 0 };

  constructor(bot: CommandHost, registry: CommandRegistry) {
    this.#bot = bot;
    this.#registry = registry;
    this.#spawn = AsyncResource.bind(() => {
      this.#worker ??= this.#work().finally(() => {
        this.#worker = undefined;
        if (this.#live && this.#queue.size > 0) this.#spawn();
        else for (const resolve of this.#idle.splice(0)) resolve();
      });
    });
    bot.rooms.trackStateType(COMMAND_DESCRIPTION_EVENT_TYPE);
    registry.onChange(() => {
      this.#desired = undefined;
      this.#enqueueAll();
    });
    bot.on("ready", () => {
      this.#live = true;
      this.#abort = new AbortController();
      this.#enqueueAll();
    });
    bot.on("join", (room) => this.enqueue(room.roomId));
    bot.on("event", (room, event) => {
      if (concernsPublishing(event, bot.userId)) this.enqueue(room.roomId);
    });
    bot.on("stopped", () => {
      this.#live = false;
      this.#abort.abort();
      this.#queue.clear();
    });
  }

  /** Rooms waiting to be reconciled. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Looks at a room again soon (no-op before the bot is ready, or if it is already queued). */
  enqueue(roomId: string): void {
    if (!this.#live) return;
    this.#queue.add(roomId);
    this.#spawn();
  }

  /** Resolves once the queue is empty and no request is in flight. */
  idle(): Promise<void> {
    if (this.#worker === undefined && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #enqueueAll(): void {
    for (const room of this.#bot.rooms.rooms.values()) if (room.membership === "join") this.enqueue(room.roomId);
  }

  async #work(): Promise<void> {
    // Let a burst of changes land first: a module's commands are registered one by one.
    await new Promise((resolve) => setImmediate(resolve));
    for (const roomId of this.#queue) {
      if (!this.#live) return;
      this.#queue.delete(roomId);
      try {
        await this.#reconcile(roomId);
      } catch (error) {
        if (!this.#live || isAbortError(error)) return;
        if (isRateLimit(error)) {
          this.stats.rateLimited++;
          const wait = error.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS;
          this.#bot.log.info({ roomId, waitMs: wait }, "publishing commands: rate limited, pausing");
          this.#queue.add(roomId);
          try {
            await sleep(wait, this.#abort.signal);
          } catch {
            return;
          }
        } else if (error instanceof MatrixError && error.errcode === "M_FORBIDDEN") {
          // Power levels changed after the last sync; the next power-levels event brings the room back.
          this.#bot.log.debug({ roomId, error: error.message }, "publishing commands: not allowed in this room");
        } else {
          this.#bot.reportError(error, { source: "publishCommands", room: this.#bot.getRoom(roomId) });
        }
      }
    }
  }

  async #reconcile(roomId: string): Promise<void> {
    const bot = this.#bot;
    const room = bot.getRoom(roomId);
    if (room === undefined || room.membership !== "join") return;
    if (!canPublishIn(room, bot.userId)) {
      this.stats.roomsSkipped++;
      bot.log.debug({ roomId }, "publishing commands: power level too low, skipping room");
      return;
    }
    const desired = (this.#desired ??= describeCommands(this.#registry, bot.userId));
    const current = room.stateOfType(COMMAND_DESCRIPTION_EVENT_TYPE);
    const sends: [string, Record<string, unknown>][] = [];
    for (const [key, content] of desired) {
      const existing = current?.get(key);
      if (existing?.sender === bot.userId && sameContent(existing.content, content)) continue;
      sends.push([key, content as unknown as Record<string, unknown>]);
    }
    for (const [key, existing] of current ?? []) {
      if (desired.has(key) || existing.sender !== bot.userId || Object.keys(existing.content).length === 0) continue;
      sends.push([key, {}]);
    }
    for (const [key, content] of sends) {
      if (!this.#live) return;
      if (this.#desired !== desired) {
        // The commands changed meanwhile: start this room over with the new set.
        this.#queue.add(roomId);
        return;
      }
      await this.#send(room, key, content);
    }
    this.stats.roomsReconciled++;
  }

  async #send(room: Room, stateKey: string, content: Record<string, unknown>): Promise<void> {
    const bot = this.#bot;
    const type = COMMAND_DESCRIPTION_EVENT_TYPE;
    const { event_id } = await bot.api.rooms.putState(room.roomId, type, stateKey, content, { signal: this.#abort.signal });
    // Known at once, so a reconcile before the next sync does not send it again.
    const event: StateEvent = { type, state_key: stateKey, sender: bot.userId, event_id, origin_server_ts: Date.now(), content, room_id: room.roomId };
    bot.rooms.applyState(room, event);
    if (Object.keys(content).length === 0) this.stats.removed++;
    else this.stats.published++;
    bot.log.debug({ roomId: room.roomId, stateKey, command: content.command }, "published command description");
  }
}
