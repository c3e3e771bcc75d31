/**
 * Server-side key backup (`m.megolm_backup.v1.curve25519-aes-sha2`). With
 * the backup key (from the crypto store, or from secret storage opened with
 * the recovery key), every room key the bot receives or creates is uploaded
 * in the background, in the batches the crypto library makes, with retry and
 * backoff; a reply never waits for it. A new device restores the whole
 * backup in the background, and an event that fails to decrypt for a
 * missing key asks the backup for that one session first. A backup version
 * that disappears or is replaced on the server stops the uploads; the bot
 * adopts the new version when its key (or secret storage) can open it.
 *
 * @module
 */
import { BackupDecryptionKey, RequestType, RoomId, type OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { MatrixApi } from "../api/client.js";
import { endpoints } from "../api/endpoints.js";
import { MatrixError } from "../api/errors.js";
import type { Logger } from "../logging/logger.js";
import { SecretStorage, type OpenedKey } from "./secret-storage.js";

/** The only backup algorithm in the spec. */
export const BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";
/** The secret storage name of the backup key. */
export const BACKUP_SECRET = "m.megolm_backup.v1";

/** A backup version as `GET /room_keys/version` describes it. */
export interface BackupVersionInfo {
  version: string;
  algorithm: string;
  auth_data: { public_key?: string; signatures?: Record<string, Record<string, string>> };
  count?: number;
  etag?: string;
}

/** What the backup has done so far (for `niobot crypto status` and the cost numbers). */
export interface BackupStats {
  /** The version uploads go to, when enabled. */
  version: string | undefined;
  /** Room keys uploaded by this process. */
  uploadedKeys: number;
  /** Upload requests sent (successful ones). */
  uploads: number;
  /** Bytes of upload request bodies. */
  uploadBytes: number;
  /** Milliseconds spent in upload requests, machine work included. */
  uploadMs: number;
  /** Room keys imported from the backup. */
  restoredKeys: number;
}

const unpadded = (s: string): string => s.replace(/=+$/, "");

function keyFromSecret(secret: string): BackupDecryptionKey {
  try {
    return BackupDecryptionKey.fromBase64(unpadded(secret));
  } catch {
    return BackupDecryptionKey.fromBase64(secret);
  }
}

/** Key backup of one bot device. */
export class KeyBackup {
  readonly stats: BackupStats = { version: undefined, uploadedKeys: 0, uploads: 0, uploadBytes: 0, uploadMs: 0, restoredKeys: 0 };
  #key: BackupDecryptionKey | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #closed = false;
  readonly #asked = new Set<string>();

  constructor(
    private readonly machine: OlmMachine,
    private readonly api: MatrixApi,
    private readonly log: Logger,
    /** The opened secret storage key, to adopt a replaced backup version. */
    private readonly storageKey: OpenedKey | undefined,
  ) {}

  /** Whether uploads and restores are on. */
  get enabled(): boolean {
    return this.stats.version !== undefined;
  }

  /** The current backup version on the server, or undefined when there is none. */
  async serverVersion(signal?: AbortSignal): Promise<BackupVersionInfo | undefined> {
    try {
      return (await this.api.call(endpoints.roomKeysVersion, { signal })) as unknown as BackupVersionInfo;
    } catch (error) {
      if (error instanceof MatrixError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Finds the backup key (store, then secret storage) and enables uploads to
   * the server's current version when the key opens it. With `create`, makes
   * a new version (and stores its key in secret storage) when there is none.
   */
  async setUp(create: boolean): Promise<void> {
    const stored = await this.machine.getBackupKeys();
    this.#key = stored.decryptionKey;
    let info = await this.serverVersion();
    if (!this.#key && this.storageKey) {
      const secret = await new SecretStorage(this.api, this.machine.userId.toString()).get(this.storageKey, BACKUP_SECRET);
      if (secret) this.#key = keyFromSecret(secret);
    }
    if (!info && create && this.storageKey) {
      info = await this.#createVersion(this.storageKey);
      this.log.info({ version: info.version }, "created a key backup version");
    }
    if (!info) {
      this.log.info("the account has no key backup; room keys are not backed up");
      return;
    }
    await this.#adopt(info);
  }

  async #adopt(info: BackupVersionInfo): Promise<boolean> {
    if (info.algorithm !== BACKUP_ALGORITHM) {
      this.log.warn({ version: info.version, algorithm: info.algorithm }, "the key backup uses an unknown algorithm; not using it");
      return false;
    }
    if (!this.#key) {
      this.log.warn({ version: info.version }, "the account has a key backup, but the bot has no key for it: give the recovery key to back up and restore room keys");
      return false;
    }
    const publicKey = this.#key.megolmV1PublicKey.publicKeyBase64;
    if (unpadded(publicKey) !== unpadded(info.auth_data.public_key ?? "")) {
      this.log.warn({ version: info.version }, "the key backup on the server is not one the bot's backup key opens; not uploading to it");
      return false;
    }
    await this.machine.saveBackupDecryptionKey(this.#key, info.version);
    await this.machine.enableBackupV1(publicKey, info.version);
    this.stats.version = info.version;
    this.log.info({ version: info.version, keys: info.count }, "key backup enabled");
    this.kick();
    return true;
  }

  async #createVersion(storageKey: OpenedKey): Promise<BackupVersionInfo> {
    const key = BackupDecryptionKey.createRandomKey();
    const authData: BackupVersionInfo["auth_data"] = { public_key: key.megolmV1PublicKey.publicKeyBase64 };
    const signatures = await this.machine.sign(JSON.stringify(authData));
    authData.signatures = JSON.parse(signatures.asJSON()) as Record<string, Record<string, string>>;
    const { version } = await this.api.call(endpoints.roomKeysVersionCreate, { body: { algorithm: BACKUP_ALGORITHM, auth_data: authData } });
    await new SecretStorage(this.api, this.machine.userId.toString()).put(storageKey, BACKUP_SECRET, key.toBase64());
    this.#key = key;
    return { version, algorithm: BACKUP_ALGORITHM, auth_data: authData, count: 0 };
  }

  /** Schedules an upload of the room keys not backed up yet (returns at once). */
  kick(): void {
    if (this.#closed || !this.enabled) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    // A short delay gathers the keys of one sync batch into one request.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#uploadAll().finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
    }, 200);
    this.#timer.unref();
  }

  /** Waits until nothing is left to upload (tests, `niobot crypto status`). */
  async flush(): Promise<void> {
    for (let i = 0; i < 100 && (this.#timer || this.#running); i++) {
      if (this.#timer) await new Promise((r) => setTimeout(r, 250));
      await this.#running;
    }
  }

  async #uploadAll(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const request = await this.machine.backupRoomKeys();
      if (!request) return;
      const started = performance.now();
      try {
        const body = JSON.parse(request.body) as { rooms?: Record<string, { sessions?: Record<string, unknown> }> };
        const count = Object.values(body.rooms ?? {}).reduce((n, room) => n + Object.keys(room.sessions ?? {}).length, 0);
        const response = await this.api.call(endpoints.roomKeysUpload, { query: { version: request.version }, body });
        await this.machine.markRequestAsSent(request.id, RequestType.KeysBackup, JSON.stringify(response));
        this.stats.uploads++;
        this.stats.uploadedKeys += count;
        this.stats.uploadBytes += request.body.length;
        this.stats.uploadMs += performance.now() - started;
        this.#failures = 0;
      } catch (error) {
        if (error instanceof MatrixError && (error.errcode === "M_WRONG_ROOM_KEYS_VERSION" || error.errcode === "M_NOT_FOUND")) {
          await this.#versionGone();
          return;
        }
        this.#failures++;
        const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.#failures - 1, 6));
        this.log.warn({ error: (error as Error).message, retryInMs: delay }, "key backup upload failed; will retry");
        if (!this.#closed) setTimeout(() => this.kick(), delay).unref();
        return;
      }
    }
  }

  /** The backup version was deleted or replaced: stop, and adopt the new one if this key or secret storage opens it. */
  async #versionGone(): Promise<void> {
    const old = this.stats.version;
    this.stats.version = undefined;
    // Said as soon as `enabled` turns false, so whoever sees it false also finds the line.
    this.log.warn({ version: old }, "the key backup version was deleted or replaced on the server; stopped uploading");
    await this.machine.disableBackup();
    const info = await this.serverVersion();
    if (!info) return;
    if (await this.#adopt(info)) return;
    if (this.storageKey) {
      const secret = await new SecretStorage(this.api, this.machine.userId.toString()).get(this.storageKey, BACKUP_SECRET).catch(() => undefined);
      if (secret) {
        this.#key = keyFromSecret(secret);
        await this.#adopt(info);
      }
    }
  }

  /** Imports every key of the backup, logging progress; for a new device. Runs in the background. */
  async restoreAll(): Promise<void> {
    const version = this.stats.version;
    if (!version) return;
    const started = performance.now();
    const all = await this.api.call(endpoints.roomKeysAll, { query: { version } });
    const count = await this.#import(all.rooms ?? {}, version, (done, total) => this.log.info({ done, total }, "restoring room keys from the key backup"));
    this.log.info({ keys: count, ms: Math.round(performance.now() - started) }, "restored room keys from the key backup");
  }

  /**
   * Asks the backup for one session (once per session per process), for an
   * event that failed to decrypt for a missing key. Returns whether a key was imported.
   */
  async requestSession(roomId: string, sessionId: string): Promise<boolean> {
    const version = this.stats.version;
    if (!version || this.#asked.has(sessionId)) return false;
    this.#asked.add(sessionId);
    let data: Record<string, unknown>;
    try {
      data = await this.api.call(endpoints.roomKeysSession, { path: { roomId, sessionId }, query: { version } });
    } catch (error) {
      if (error instanceof MatrixError && error.status === 404) return false;
      throw error;
    }
    return (await this.#import({ [roomId]: { sessions: { [sessionId]: data } } }, version)) > 0;
  }

  async #import(rooms: Record<string, { sessions?: Record<string, unknown> }>, version: string, progress?: (done: number, total: number) => void): Promise<number> {
    const key = this.#key;
    if (!key) return 0;
    const map = new Map<RoomId, Map<string, unknown>>();
    let undecryptable = 0;
    for (const [roomId, room] of Object.entries(rooms)) {
      const sessions = new Map<string, unknown>();
      for (const [sessionId, data] of Object.entries(room.sessions ?? {})) {
        const s = (data as { session_data?: { ephemeral?: unknown; mac?: unknown; ciphertext?: unknown } }).session_data;
        if (typeof s?.ephemeral !== "string" || typeof s.mac !== "string" || typeof s.ciphertext !== "string") {
          undecryptable++;
          continue;
        }
        try {
          // The library imports decrypted session data; the ids travel outside the ciphertext.
          sessions.set(sessionId, { ...(JSON.parse(key.decryptV1(s.ephemeral, s.mac, s.ciphertext)) as object), session_id: sessionId, room_id: roomId });
        } catch {
          undecryptable++;
        }
      }
      if (sessions.size > 0) map.set(new RoomId(roomId), sessions);
    }
    if (undecryptable > 0) this.log.warn({ undecryptable }, "some room keys in the key backup do not decrypt with the backup key; skipped");
    if (map.size === 0) return 0;
    let last = 0;
    const result = await this.machine.importBackedUpRoomKeys(map, (done, total) => {
      // Every 500 keys is enough to show it moves.
      if (progress && Number(done) - last >= 500) {
        last = Number(done);
        progress(last, Number(total));
      }
    }, version);
    this.stats.restoredKeys += result.importedCount;
    return result.importedCount;
  }

  /** Stops the uploads; a batch in flight finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
