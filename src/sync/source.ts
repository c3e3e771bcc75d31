/**
 * Where the sync engine's batches come from. The engine (token after
 * handlers, dedupe, back-fill, the room tracker, the scheduler) is the same
 * for every source; a source only turns the server's answers into the `/sync`
 * batch shape: `/sync` itself ({@link LongPollSource}), or simplified sliding
 * sync (`sliding.ts`).
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { JoinedRoomSink } from "../api/sync-body.js";
import type { SyncResponse } from "../api/types.js";

/** What a source knows about one joined room of a batch beyond the `/sync` shape. */
export interface RoomHint {
  /** The first this many timeline events are history: they update room state but are not dispatched. */
  history: number;
  /**
   * Also dispatch the events after the newest one already handled (a room the
   * bot knew before the position it synced from was lost): more may be news
   * than `history` says, and the handled-event records tell which.
   */
  afterHandled?: boolean;
  /** The room is sent for the first time on this connection (the bot may have been in it for long). */
  firstSight?: boolean;
  /** Where a back-fill of a gappy timeline stops (`/messages` `to`); undefined: the gap is not filled. */
  gapTo: string | undefined;
}

/** One batch for the engine. */
export interface SourceBatch {
  /** The batch in `/sync` shape; `next_batch` is the token stored once its handlers finished. */
  response: SyncResponse;
  /** Per joined room, when the source knows better than "every timeline event is news". */
  rooms?: ReadonlyMap<string, RoomHint>;
}

/** A supplier of sync batches. */
export interface SyncSource {
  /**
   * The next batch after `since` (the last token whose batch was processed;
   * undefined on a first start). `timeoutMs` is how long the server may wait
   * for news. A failed call is retried by the engine with the same `since`.
   * A source that reads its answer room by room may give each joined room to
   * `onJoinedRoom` as it is parsed; a room it takes is left out of the batch.
   */
  next(since: string | undefined, timeoutMs: number, signal: AbortSignal, onJoinedRoom?: JoinedRoomSink): Promise<SourceBatch>;
}

/** Options of a {@link LongPollSource}. */
export interface LongPollSourceOptions {
  api: MatrixApi;
  /** The filter, as JSON. */
  filter: string;
  presence?: "online" | "offline" | "unavailable";
}

/** `GET /sync`, the default source. */
export class LongPollSource implements SyncSource {
  constructor(private readonly o: LongPollSourceOptions) {}

  async next(since: string | undefined, timeoutMs: number, signal: AbortSignal, onJoinedRoom?: JoinedRoomSink): Promise<SourceBatch> {
    const response = await this.o.api.sync.sync({ filter: this.o.filter, since, timeout: timeoutMs, set_presence: this.o.presence }, { signal, onJoinedRoom });
    return { response };
  }
}
