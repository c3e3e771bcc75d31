/**
 * Appservice mode: the bot is pushed its events by the homeserver instead of
 * syncing, acts as the registration's `sender_localpart`, and can speak as
 * any user of its namespace (`bot.as(userId)`).
 *
 * `Appservice` wires the pieces: the registration, the HTTP server the
 * homeserver calls, the transaction engine feeding the bot's event pipeline,
 * and the virtual users. `NioBot` starts one instead of its sync engine when
 * given the `appservice` option.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { MatrixApi } from "../api/client.js";
import type { ClientEvent } from "../api/events.js";
import { MatrixError } from "../api/errors.js";
import type { HttpClientOptions } from "../api/http.js";
import type { ErrorContext } from "../core/errors.js";
import { M_DIRECT } from "../dm/writer.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import type { SyncSink } from "../sync/engine.js";
import type { RoomTracker } from "../sync/tracker.js";
import { loadRegistration, NamespaceMatcher, validateRegistration, type AppserviceRegistration } from "./registration.js";
import { AppserviceServer, type ListenOptions } from "./server.js";
import { TransactionEngine } from "./transactions.js";
import { VirtualUser, type VirtualUserProfile } from "./virtual.js";

/** The `appservice` option of `NioBot`: run as an application service. */
export interface AppserviceOptions {
  /** The registration (as loaded), or the path of its YAML file. */
  registration: AppserviceRegistration | string;
  /** Where to listen for the homeserver (default: `127.0.0.1`, the port of the registration's `url`). */
  listen?: ListenOptions;
  /**
   * The homeserver asks whether a user of the namespace exists. Return a
   * profile (or true) to have it registered now, false for "no such user".
   * Default: every user of the namespace exists.
   */
  queryUser?: (userId: string) => boolean | VirtualUserProfile | Promise<boolean | VirtualUserProfile>;
  /** The homeserver asks whether a room alias of the namespace exists; create the room and return true, or false. Default: false. */
  queryAlias?: (alias: string, bot: { api: MatrixApi }) => boolean | Promise<boolean>;
  /** Events of rooms the bot's own user is not in (rooms only virtual users joined); handled before the transaction is acknowledged. */
  onOtherRoomEvent?: (event: ClientEvent) => Promise<void> | void;
  /** Ask the homeserver to ping the appservice at start, to check it can be reached (default true). */
  ping?: boolean;
}

/** What the appservice needs from the bot. */
export interface AppserviceHost {
  readonly userId: string;
  readonly store: Store;
  readonly rooms: RoomTracker;
  readonly log: Logger;
  reportError(error: unknown, context: ErrorContext): void;
}

/** Options of {@link Appservice.start}. */
export interface AppserviceStartOptions {
  baseUrl: string;
  http: Omit<HttpClientOptions, "baseUrl" | "accessToken">;
  sink: SyncSink;
  maxConcurrentHandlers?: number;
  handlerTimeoutMs?: number;
  maxEventAgeMs?: number;
}

/** The bot's user id does not belong to the registration. */
export class AppserviceIdentityError extends Error {
  override readonly name = "AppserviceIdentityError";
}

/** A running application service: the server, the transaction engine and the virtual users. */
export class Appservice {
  readonly registration: AppserviceRegistration;
  /** The bot's API (the `as_token`, acting as `sender_localpart`). */
  readonly api: MatrixApi;
  readonly #host: AppserviceHost;
  readonly #options: AppserviceOptions;
  readonly #matcher: NamespaceMatcher;
  readonly #http: HttpClientOptions;
  readonly #users = new Map<string, VirtualUser>();
  readonly #engine: TransactionEngine;
  readonly #server: AppserviceServer;
  #pinged: ((transactionId: string | undefined) => void) | undefined;

  private constructor(host: AppserviceHost, options: AppserviceOptions, registration: AppserviceRegistration, start: AppserviceStartOptions) {
    this.#host = host;
    this.#options = options;
    this.registration = registration;
    const serverName = host.userId.slice(host.userId.indexOf(":") + 1);
    if (host.userId !== `@${registration.sender_localpart}:${serverName}`)
      throw new AppserviceIdentityError(`the bot's userId ${host.userId} is not the registration's sender (@${registration.sender_localpart}:${serverName})`);
    this.#matcher = new NamespaceMatcher(registration, serverName);
    this.#http = { ...start.http, baseUrl: start.baseUrl, accessToken: registration.as_token };
    this.api = new MatrixApi(this.#http);
    this.#engine = new TransactionEngine({
      store: host.store,
      tracker: host.rooms,
      sink: start.sink,
      log: host.log,
      maxConcurrentHandlers: start.maxConcurrentHandlers,
      handlerTimeoutMs: start.handlerTimeoutMs,
      maxEventAgeMs: start.maxEventAgeMs,
      onOtherRoomEvent: options.onOtherRoomEvent,
      loadRoomState: async (roomId) => this.api.rooms.state(roomId),
    });
    this.#server = new AppserviceServer({
      hsToken: registration.hs_token,
      log: host.log,
      handlers: {
        transaction: (txnId, body) => this.#engine.handle(txnId, body),
        queryUser: (userId) => this.#queryUser(userId),
        queryAlias: async (alias) => this.#matcher.isOwnAlias(alias) && (await (options.queryAlias?.(alias, this) ?? false)),
        ping: (transactionId) => this.#pinged?.(transactionId),
      },
    });
  }

  /** Reads and checks the registration; nothing is sent or listened on yet (see {@link Appservice.start}). */
  static async create(host: AppserviceHost, options: AppserviceOptions, start: AppserviceStartOptions): Promise<Appservice> {
    const registration = typeof options.registration === "string" ? await loadRegistration(options.registration) : validateRegistration(options.registration);
    return new Appservice(host, options, registration, start);
  }

  /**
   * Checks the `as_token` (whoami must answer the bot's user id), restores
   * the bot's `m.direct`, listens, and has the homeserver ping the appservice.
   * Transactions may arrive from the moment it listens: the bot must be able
   * to handle events before this is called.
   */
  async start(): Promise<void> {
    const { user_id } = await this.api.account.whoami();
    if (user_id !== this.#host.userId) throw new AppserviceIdentityError(`the as_token acts as ${user_id}, not as the bot's userId ${this.#host.userId}`);
    // No sync brings account data: the DM layer reads the bot's m.direct from here.
    try {
      this.#host.rooms.setAccountData(M_DIRECT, await this.api.accountData.get(this.#host.userId, M_DIRECT));
    } catch (error) {
      if (!(error instanceof MatrixError && error.status === 404)) throw error;
    }
    await this.#engine.start();
    await this.#server.listen(this.#options.listen ?? { port: portOf(this.registration.url) });
    if (this.#options.ping ?? true) await this.ping();
  }

  /** The port the appservice listens on. */
  get port(): number {
    return this.#server.port;
  }

  /**
   * Asks the homeserver to call the appservice (`POST /_matrix/client/v1/appservice/{id}/ping`);
   * resolves with the round trip in ms, or undefined (logged) when the link is broken or the server cannot ping.
   */
  async ping(): Promise<number | undefined> {
    const transactionId = `nbping${randomBytes(8).toString("hex")}`;
    try {
      const answer = await this.api.http.request<{ duration_ms?: number }>({
        method: "POST",
        path: `/_matrix/client/v1/appservice/${encodeURIComponent(this.registration.id)}/ping`,
        body: { transaction_id: transactionId },
        idempotent: true,
      });
      this.#host.log.info({ durationMs: answer.duration_ms }, "the homeserver reaches the appservice");
      return answer.duration_ms;
    } catch (error) {
      const reason = error instanceof MatrixError ? `${error.errcode ?? error.status}: ${error.message}` : String(error);
      this.#host.log.warn({ url: this.registration.url, reason }, "the homeserver could not ping the appservice; check the registration's url");
      return undefined;
    }
  }

  /** Whether the appservice may act as `userId` (its own user or a namespace user). */
  isOwnUser(userId: string): boolean {
    return this.#matcher.isOwnUser(userId);
  }

  /**
   * A user of the namespace, registered (and given `profile`) on first use.
   *
   * @throws `RangeError` for a user outside the registration's namespaces.
   */
  async as(userId: string, profile?: VirtualUserProfile): Promise<VirtualUser> {
    if (userId === this.#host.userId || !this.#matcher.isOwnUser(userId)) throw new RangeError(`${userId} is not in the appservice's user namespaces`);
    let user = this.#users.get(userId);
    if (!user) {
      user = new VirtualUser(userId, { http: this.#http, store: this.#host.store, log: this.#host.log, reportError: (e, c) => this.#host.reportError(e, c) });
      this.#users.set(userId, user);
    }
    await user.ensureReady(profile);
    return user;
  }

  async #queryUser(userId: string): Promise<boolean> {
    if (userId === this.#host.userId || !this.#matcher.isOwnUser(userId)) return false;
    const answer = (await this.#options.queryUser?.(userId)) ?? true;
    if (answer === false) return false;
    await this.as(userId, answer === true ? undefined : answer);
    return true;
  }

  /** Stops listening; transactions cut off are not acknowledged and come again. */
  async stop(): Promise<void> {
    await this.#engine.stop();
    await this.#server.close();
  }
}

/** The port of the registration's url (default 80/443 by scheme; 0 when there is none). */
function portOf(url: string | null): number {
  if (!url) return 0;
  const parsed = new URL(url);
  return parsed.port ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
}
