/** The options of a bot, in one place: what each layer can be configured with. */
import type { FetchLike, RetryOptions } from "../api/http.js";
import type { SyncFilter } from "../api/types.js";
import type { FrameworkMessages } from "../commands/messages.js";
import type { CommandPrefix } from "../commands/router.js";
import type { Logger } from "../logging/logger.js";
import type { AutoReadReceipts } from "../messaging/index.js";
import type { Store } from "../storage/store.js";
import type { AutoJoinPolicy } from "./autojoin.js";
import type { Authenticate } from "../crypto/identity.js";
import type { TrustMode } from "../crypto/trust.js";
import type { LeaseOptions } from "../replicas/lease.js";
import type { AppserviceOptions } from "../appservice/appservice.js";

/** Options of a {@link NioBot}. */
export interface NioBotOptions {
  /** Homeserver base URL (`https://matrix.example.org`) or a server name resolved through `.well-known`. */
  homeserver: string;
  /**
   * Run as an application service: the homeserver pushes events to an HTTP
   * server instead of the bot syncing, `userId` must be the registration's
   * `sender_localpart`, and `bot.as(userId)` speaks as namespace users.
   * No login: the registration's `as_token` is the credential. See `docs/guides/appservice.md`.
   */
  appservice?: AppserviceOptions;
  /** The bot's user id, e.g. `@bot:example.org`. */
  userId: string;
  /** Device to log in as (default: the stored one, or a new one). */
  deviceId?: string;
  /**
   * The env file the bot's tokens came from (as written by `niobot login`):
   * refreshed tokens are written back to it, after the store, while it still
   * holds this session's token. See `src/auth/persist.ts`.
   */
  envFile?: string;
  /** Display name of a new device (default `niobot`). */
  deviceName?: string;
  /** Path of an SQLite store; the bot keeps its login, sync position and room state there. Memory when absent. */
  storePath?: string;
  /**
   * A PostgreSQL store instead of the SQLite file: `postgres://user:password@host/database`,
   * optionally `?schema=name` (default schema `niobot`; one schema per bot). Holds the crypto
   * store too. Overrides `storePath`. See `src/storage/postgres/`.
   */
  storeUrl?: string;
  /** The bot's schema in the `storeUrl` database (overrides the URL's `schema` parameter). */
  storeSchema?: string;
  /**
   * Run as one of several replicas on the same `storeUrl`: only the holder of a lease logs in,
   * syncs and sends; the others wait as warm standbys and take over within `leaseMs` (default
   * 10 s) when it dies. `true` for the defaults. See `src/replicas/` and the deployment guide.
   */
  replicas?: boolean | LeaseOptions;
  /** A custom store (overrides `storeUrl` and `storePath`). */
  store?: Store;
  /** The bot owner's user id, for the `isOwner` check. */
  ownerId?: string;
  /** Logger (pino-compatible); default: readable lines on standard error. */
  logger?: Logger;
  /**
   * A `fetch` to send every homeserver request with; inject one to add a proxy, metrics or fault
   * injection. Default: niobot's own keep-alive client on `node:http`/`node:https`.
   */
  fetch?: FetchLike;
  /** Retry policy of every request. */
  retry?: RetryOptions;
  /** Join rooms the bot is invited to: everyone (default), no one, or an allowlist. */
  autoJoin?: AutoJoinPolicy;
  /** Message type of text the bot sends (default `m.notice`, which other bots ignore). */
  defaultMsgtype?: "m.notice" | "m.text";
  /**
   * Read receipts for handled events the bot did not answer (its own reply
   * already marks them read): `true` (default) for finished commands and
   * `bot.noteHandled`, `"messages"` for every message from
   * others once its listeners finished, `false` for none.
   */
  autoReadReceipts?: AutoReadReceipts;
  /** Events kept in the message cache behind `fetchMessage` and edit checks (default 1000; 0 disables it). Their JSON is also capped at 4 Mi characters in all. */
  messageCacheSize?: number;
  /** Ignore the timeline of the very first sync (default true). */
  ignoreOldEvents?: boolean;
  /** When catching up after downtime, skip events older than this many ms (default: handle all). */
  maxEventAgeMs?: number;
  /**
   * Event handlers running at once, over all rooms (default 32). One room's
   * events run one after another, in order; a handler waiting in
   * `waitForMessage`/`waitForEvent` lets the next ones run meanwhile.
   */
  maxConcurrentHandlers?: number;
  /**
   * After this many ms a handler is reported as slow (`HandlerTimeoutError`
   * through the `error` event), its signal (`ctx.signal`, `handlerSignal()`)
   * aborts, and the sync position no longer waits for it (default 10 minutes).
   */
  handlerTimeoutMs?: number;
  /** How long a `room` or `event` command argument may spend resolving an alias (default 10 s). */
  aliasLookupTimeoutMs?: number;
  /**
   * How the bot syncs: `"sync"` (default) long-polls `/sync`, whose first
   * answer on a first start (or after long downtime) carries every room the
   * bot is in; `"sliding"` uses simplified sliding sync (MSC4186, Synapse's
   * `org.matrix.simplified_msc3575` endpoint), which sends only a window of
   * the most recently active rooms (a room with news moves into it), so a bot
   * in thousands of rooms answers its first command within seconds and each
   * answer costs what the rooms with news cost. The bot learns about a room
   * when it first has news; what it needs about another room (encryption,
   * members, direct rooms) is fetched when needed. Pick sliding for a bot in
   * hundreds of rooms or more on a homeserver that serves it; the delivery
   * guarantees are the same. Once the first commands are answered, the bot
   * hands off to incremental `/sync` (see `slidingSync.handoff`), and a
   * restart after that continues with `/sync`. `syncFilter` and `presence`
   * apply to `/sync` only. See `docs/guides/deployment.md#sliding-sync`.
   */
  syncMode?: "sync" | "sliding";
  /**
   * Tuning of `syncMode: "sliding"`: the window size (default 32 rooms; more rooms with news in one
   * batch cost one more request), the timeline events per room (default 10; more are back-filled),
   * and `handoff` (default true): once one sliding long poll has been answered, continue with
   * incremental `/sync` (with `syncFilter` and `presence`), which costs the server only the rooms
   * with changes where each sliding request sorts all of them; false keeps sliding sync for good.
   * See `docs/guides/deployment.md#sliding-sync`.
   */
  slidingSync?: { window?: number; timelineLimit?: number; handoff?: boolean };
  /** Sync filter (default: lazy-loaded members, no presence/ephemeral). */
  syncFilter?: SyncFilter;
  /** Long-poll timeout (default 30 s). */
  syncTimeoutMs?: number;
  /**
   * The presence the bot's syncs set (`set_presence`): Synapse marks a syncing
   * user "online" unless told otherwise. Default: the server's behaviour.
   */
  presence?: "online" | "offline" | "unavailable";
  /** Stop cleanly on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Command prefix: a string, several, or a RegExp matched at the start (default `"!"`). The bot's mention always works too. */
  commandPrefix?: CommandPrefix;
  /** Match the prefix and command names regardless of case (default true); arguments keep their case. */
  caseInsensitiveCommands?: boolean;
  /** Run a command again when its message is edited (default false). */
  commandsOnEdit?: boolean;
  /** Ignore the bot's own messages for commands (default true). */
  ignoreSelf?: boolean;
  /** Register the built-in `help` command (default true). */
  helpCommand?: boolean;
  /**
   * The framework's own words (error replies, `help`), replacing the English defaults entry
   * by entry: localize the bot or give it its own voice. See `docs/guides/commands.md`.
   */
  messages?: Partial<FrameworkMessages>;
  /**
   * Make the commands discoverable by clients (MSC4391, unstable; default false): publish a
   * description of every command, with typed parameters from its signature, as a room state
   * event wherever the bot's power level allows it, kept up to date as modules come and go;
   * and accept the structured invocations clients send. See `docs/guides/commands.md`.
   */
  publishCommands?: boolean;
  /** Create direct rooms end-to-end encrypted (default: on exactly when the bot runs with `encryption`). */
  dmEncryption?: boolean;
  /**
   * End-to-end encryption: decrypt incoming and encrypt outgoing events in
   * encrypted rooms (see `src/crypto/`). Default: on when the crypto store
   * persists (`storePath` or `cryptoStorePath` given), off otherwise, since
   * keys kept in memory only are lost at every restart.
   */
  encryption?: boolean;
  /** The crypto store file (default `<storePath>.crypto`; memory only without either). */
  cryptoStorePath?: string;
  /** Passphrase that encrypts the keys inside the crypto store. */
  cryptoStorePassphrase?: string;
  /**
   * Sign the bot's device with the account's cross-signing identity at every
   * start (default true): clients that exclude insecure devices (MSC4153)
   * neither send keys to nor read an unsigned device. See `src/crypto/identity.ts`.
   */
  crossSigning?: boolean;
  /**
   * The account's recovery key (or secret storage passphrase), from the
   * owner's client: lets a new device join the account's identity. Examples read `MATRIX_RECOVERY_KEY`.
   */
  recoveryKey?: string;
  /** Where the bot writes a recovery key it creates (mode 0600); it is also shown once on standard error. */
  recoveryKeyFile?: string;
  /** Replace the account's cross-signing identity (orphans everyone's trust in it and its key backup). */
  resetIdentity?: boolean;
  /** Answers user-interactive auth when creating cross-signing keys and there is no password. */
  authenticate?: Authenticate;
  /**
   * Which devices the bot shares room keys with and accepts messages from:
   * `"all"` (default, so clients that cannot cross-sign still talk to the
   * bot) or `"crossSigned"` (MSC4153: only devices their owner cross-signed;
   * others get a `decryptionFailure` with reason `"untrusted"`). Privileged
   * checks require a cross-signed device in both modes.
   */
  trust?: TrustMode;
  /**
   * Confirms SAS verifications with these users without a person comparing
   * the emoji (the owner, a test account). This trusts the transport: whoever
   * controls the homeserver or the user's account could pass as them. Others
   * are asked through the `verificationRequest` event, or declined when
   * nothing listens. See `docs/guides/encryption.md`.
   */
  autoVerify?: { users: readonly string[] };
  /** Shows a recovery key the bot created (default: standard error, once; never the logger). */
  showRecoveryKey?: (recoveryKey: string) => void;
}
