/**
 * The account owner's client, as Element would be on first login: a
 * matrix-js-sdk (Rust crypto) session of the bot's own account that sets up
 * cross-signing, secret storage under a recovery key, and a key backup.
 * The bot is then started with only that recovery key.
 */
import * as sdk from "matrix-js-sdk";
import type { MatrixClient } from "matrix-js-sdk";
import { CrossSigningKey, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { RegisteredUser } from "../../src/devserver/index.js";
import { homeserver } from "./matrix.js";

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };

/** A second session of an account, standing in for its owner's Element. */
export class OwnerClient {
  private constructor(
    readonly client: MatrixClient,
    readonly deviceId: string,
    readonly recovery: GeneratedSecretStorageKey,
  ) {}

  /**
   * Logs in as `account` on a new device and sets up its cross-signing
   * identity, secret storage (returns the recovery key) and, unless told
   * otherwise, a key backup. Stop it last (`stop()`): its backup loop
   * must not outlive its machine.
   */
  static async setUp(account: RegisteredUser, o: { backup?: boolean; passphrase?: string } = {}): Promise<OwnerClient> {
    const hs = await homeserver();
    const login = await sdk.createClient({ baseUrl: hs.baseUrl, logger: quietLogger }).loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: account.userId },
      password: account.password,
      initial_device_display_name: "owner's Element",
    });
    const box: { recovery?: GeneratedSecretStorageKey } = {};
    const client = sdk.createClient({
      baseUrl: hs.baseUrl,
      userId: login.user_id,
      accessToken: login.access_token,
      deviceId: login.device_id,
      logger: quietLogger,
      cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
          const keyId = Object.keys(keys)[0];
          return keyId && box.recovery ? [keyId, box.recovery.privateKey] : null;
        },
      },
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const ready = new Promise<void>((resolve) => {
      const onSync = (state: string): void => {
        if (state === "PREPARED" || state === "SYNCING") {
          client.off(sdk.ClientEvent.Sync, onSync);
          resolve();
        }
      };
      client.on(sdk.ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 1 });
    await ready;
    const crypto = client.getCrypto()!;
    const generated = await crypto.createRecoveryKeyFromPassphrase(o.passphrase);
    box.recovery = generated;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: account.userId }, password: account.password });
      },
    });
    await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => generated, setupNewSecretStorage: true, setupNewKeyBackup: o.backup ?? true });
    return new OwnerClient(client, login.device_id, generated);
  }

  /** The recovery key as Element shows it. */
  get recoveryKey(): string {
    return this.recovery.encodedPrivateKey!;
  }

  /** The account's master public key, as this client knows it. */
  async masterKey(): Promise<string | null> {
    return this.client.getCrypto()!.getCrossSigningKeyId(CrossSigningKey.Master);
  }

  /** Stops the client (last: see {@link OwnerClient.setUp}). */
  stop(): void {
    this.client.stopClient();
  }
}
