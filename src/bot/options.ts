/** The options of a bot, in one place: what each layer can be configured with. */
import type { FetchLike, RetryOptions } from "../api/http.js";
import type { SyncFilter } from "../api/types.js";
import type { FrameworkMessages } from "../commands/messages.js";
import type { CommandPrefix } from "../commands/router.js";
import type { Logger } from "../logging/logger.js";
import type { AutoReadReceipts } from "../messaging/index.js";
import type { Store } from "../storage/store.js";
import type { AutoJoinPolicy } from "./autojoin.js";

/** Options of a {@link NioBot}. */
export interface NioBotOptions {
  /** Homeserver base URL (`https://matrix.example.org`) or a server name resolved through `.well-known`. */
  homeserver: string;
  /** The bot's user id, e.g. `@bot:example.org`. */
  userId: string;
  /** Device to log in as (default: the stored one, or a new one). */
  deviceId?: string;
  /** Display name of a new device (default `niobot`). */
  deviceName?: string;
  /** Path of an SQLite store; the bot keeps its login, sync position and room state there. Memory when absent. */
  storePath?: string;
  /** A custom store (overrides `storePath`). */
  store?: Store;
  /** The bot owner's user id, for the `isOwner` check. */
  ownerId?: string;
  /** Logger (pino-compatible); default: readable lines on standard error. */
  logger?: Logger;
  /** Transport; inject to add a proxy, metrics or fault injection. */
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
   * `bot.messaging.receipts.noteHandled`, `"messages"` for every message from
   * others once its listeners finished, `false` for none.
   */
  autoReadReceipts?: AutoReadReceipts;
  /** Events kept in the message cache behind `fetchMessage` and edit checks (default 1000; 0 disables it). */
  messageCacheSize?: number;
  /** Ignore the timeline of the very first sync (default true). */
  ignoreOldEvents?: boolean;
  /** When catching up after downtime, skip events older than this many ms (default: handle all). */
  maxEventAgeMs?: number;
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
}
