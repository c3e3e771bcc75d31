/**
 * The bot's cross-signing identity: every start with encryption on ends with
 * this device signed by the account's self-signing key, or with an error
 * that says what to do. In this order:
 *
 * 1. the crypto store holds the private keys (and they still match the
 *    server's identity): sign the device if it is not signed yet;
 * 2. a recovery key (or passphrase) is given: open secret storage, import
 *    the three private keys, sign the device;
 * 3. the account has no identity: create one (user-interactive auth with the
 *    password or the `authenticate` callback), store its keys in secret
 *    storage under a new recovery key, and hand that key out once;
 * 4. otherwise refuse: an identity is never reset unless asked for
 *    (`resetIdentity`), since that orphans everyone's trust in it.
 *
 * The result is always checked on the server (`/keys/query`): the device
 * carries a signature of the self-signing key, and the master key is the one
 * that was there before (unless a reset was asked for).
 *
 * @module
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { UserId, DeviceId, type OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { MatrixApi } from "../api/client.js";
import { endpoints } from "../api/endpoints.js";
import { MatrixError } from "../api/errors.js";
import type { Logger } from "../logging/logger.js";
import { IdentityError } from "./errors.js";
import type { OutgoingRequest, RequestPump } from "./requests.js";
import { SecretStorage, SecretStorageError, type OpenedKey } from "./secret-storage.js";

/** The three cross-signing secrets, by their secret storage names. */
export const CROSS_SIGNING_SECRETS = { master: "m.cross_signing.master", selfSigning: "m.cross_signing.self_signing", userSigning: "m.cross_signing.user_signing" } as const;

/** A user-interactive auth challenge (the server's 401 body). */
export interface AuthChallenge {
  session?: string;
  flows?: { stages: string[] }[];
  params?: Record<string, unknown>;
}

/** Answers a user-interactive auth challenge with an `auth` dict (e.g. `m.login.password`). */
export type Authenticate = (challenge: AuthChallenge) => Promise<Record<string, unknown>>;

/** Options that decide how the identity is established. */
export interface IdentityOptions {
  /** The recovery key (or secret storage passphrase) of the account. */
  recoveryKey?: string;
  /** Where to write a recovery key the bot creates (mode 0600). */
  recoveryKeyFile?: string;
  /** Replace the account's identity with a new one (orphans existing trust and backups). */
  resetIdentity?: boolean;
  /** The account password, for user-interactive auth when an identity is created. */
  password?: string;
  /** Answers user-interactive auth when there is no password. */
  authenticate?: Authenticate;
  /** Where a created recovery key is shown (default: standard error, never the logger). */
  showRecoveryKey?: (recoveryKey: string) => void;
}

/** How the identity was established. */
export type IdentityOutcome = "stored" | "recovered" | "created" | "reset";

/** What {@link establishIdentity} reports. */
export interface IdentityReport {
  outcome: IdentityOutcome;
  /** The master public key (base64) now on the server. */
  masterKey: string;
  /** Whether a signature had to be uploaded for this device. */
  signedNow: boolean;
  /** Milliseconds from the call to the verified result. */
  elapsedMs: number;
  /** The secret storage key, when this run opened or created it (for the key backup). */
  secretStorageKey?: OpenedKey;
}

export { IdentityError };

/** What the identity code needs from the crypto layer. */
export interface IdentityContext {
  machine: OlmMachine;
  api: MatrixApi;
  pump: RequestPump;
  log: Logger;
  save(): Promise<void>;
}

interface ServerIdentity {
  master: string | undefined;
  selfSigning: string | undefined;
  /** Key ids (`ed25519:...`) of the user's signatures on this device. */
  deviceSignatures: string[];
  deviceKnown: boolean;
}

function firstKey(keys: unknown, userId: string): string | undefined {
  const k = (keys as Record<string, { keys?: Record<string, string> }> | undefined)?.[userId]?.keys;
  return k ? Object.values(k)[0] : undefined;
}

/** The account's cross-signing keys and this device's signatures, as the server has them. */
export async function queryServerIdentity(api: MatrixApi, userId: string, deviceId: string): Promise<ServerIdentity> {
  const r = (await api.call(endpoints.keysQuery, { body: { device_keys: { [userId]: [deviceId] } } })) as Record<string, unknown>;
  const device = (r.device_keys as Record<string, Record<string, { signatures?: Record<string, Record<string, string>> }>> | undefined)?.[userId]?.[deviceId];
  return {
    master: firstKey(r.master_keys, userId),
    selfSigning: firstKey(r.self_signing_keys, userId),
    deviceSignatures: Object.keys(device?.signatures?.[userId] ?? {}),
    deviceKnown: device !== undefined,
  };
}

/** Runs a request behind user-interactive auth. */
async function withAuth<T>(userId: string, o: IdentityOptions, call: (auth: Record<string, unknown> | undefined) => Promise<T>): Promise<T> {
  try {
    return await call(undefined);
  } catch (error) {
    if (!(error instanceof MatrixError) || error.status !== 401) throw error;
    const challenge = error.body as AuthChallenge;
    if (o.authenticate) return call({ ...(await o.authenticate(challenge)), ...(challenge.session ? { session: challenge.session } : {}) });
    if (!o.password)
      throw new IdentityError("auth", "creating cross-signing keys needs user-interactive auth: start the bot with { password }, or give the authenticate option");
    return call({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password: o.password, ...(challenge.session ? { session: challenge.session } : {}) });
  }
}

function unpadded(value: string): string {
  return value.replace(/=+$/, "");
}

/** Signs this device with the self-signing key the machine holds, when the machine does not see it signed. */
async function signDevice(ctx: IdentityContext): Promise<boolean> {
  const { machine } = ctx;
  const device = await machine.getDevice(new UserId(machine.userId.toString()), new DeviceId(machine.deviceId.toString()));
  if (!device) throw new IdentityError("verify", "the machine does not know this device's own keys");
  try {
    if (device.isCrossSignedByOwner()) return false;
    const request = await device.verify();
    if (!(await ctx.pump.send(request as OutgoingRequest))) throw new IdentityError("verify", "could not upload the signature of this device");
    return true;
  } finally {
    device.free();
  }
}

/** The ed25519 public key (unpadded base64) of a private key seed (base64). */
function publicKeyOfSeed(seed: string): string | undefined {
  const bytes = Buffer.from(seed, "base64");
  if (bytes.length !== 32) return undefined;
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), bytes]), format: "der", type: "pkcs8" });
  const x = createPublicKey(key).export({ format: "jwk" }).x;
  return x ? Buffer.from(x, "base64url").toString("base64").replace(/=+$/, "") : undefined;
}

/** The master public key whose private key the crypto store holds, if any. */
async function storedMasterKey(machine: OlmMachine): Promise<string | undefined> {
  const exported = await machine.exportCrossSigningKeys();
  try {
    return exported?.masterKey ? publicKeyOfSeed(exported.masterKey) : undefined;
  } catch {
    return undefined;
  } finally {
    exported?.free();
  }
}

/** Refreshes the machine's view of our own identity (`/keys/query` for ourselves). */
async function refreshOwnKeys(ctx: IdentityContext): Promise<void> {
  await ctx.machine.markAllTrackedUsersAsDirty();
  await ctx.machine.updateTrackedUsers([new UserId(ctx.machine.userId.toString())]);
  await ctx.pump.pump();
}

async function importFromSecretStorage(ctx: IdentityContext, storage: SecretStorage, opened: OpenedKey): Promise<void> {
  const [master, selfSigning, userSigning] = await Promise.all(
    [CROSS_SIGNING_SECRETS.master, CROSS_SIGNING_SECRETS.selfSigning, CROSS_SIGNING_SECRETS.userSigning].map((name) =>
      storage.get(opened, name).catch((error: unknown) => {
        if (error instanceof SecretStorageError) throw new IdentityError(error.check, error.message);
        throw error;
      }),
    ),
  );
  if (!master || !selfSigning)
    throw new IdentityError("missing-secret", "secret storage opens with this key, but holds no master and self-signing keys under it (set up cross-signing from the owner's client, or reset the identity)");
  let status;
  try {
    status = await ctx.machine.importCrossSigningKeys(unpadded(master), unpadded(selfSigning), userSigning ? unpadded(userSigning) : undefined);
  } catch (error) {
    throw new IdentityError("import", `the cross-signing keys in secret storage do not match the account's identity on the server (${(error as Error).message})`);
  }
  if (!status.hasSelfSigning) throw new IdentityError("import", "the self-signing key in secret storage does not match the account's identity on the server");
}

async function bootstrap(ctx: IdentityContext, o: IdentityOptions, storage: SecretStorage, opened: OpenedKey | undefined): Promise<{ opened: OpenedKey; recoveryKey?: string }> {
  const { machine, api } = ctx;
  const userId = machine.userId.toString();
  const requests = await machine.bootstrapCrossSigning(true);
  if (requests.uploadKeysRequest) await ctx.pump.send(requests.uploadKeysRequest as OutgoingRequest);
  const body = JSON.parse(requests.uploadSigningKeysRequest.body) as Record<string, unknown>;
  await withAuth(userId, o, (auth) => api.call(endpoints.keysDeviceSigningUpload, { body: auth ? { ...body, auth } : body }));
  if (!(await ctx.pump.send(requests.uploadSignaturesRequest))) throw new IdentityError("verify", "could not upload the signature of this device");
  await ctx.save();
  const exported = await machine.exportCrossSigningKeys();
  let recoveryKey: string | undefined;
  let key = opened;
  if (!key) {
    const created = await storage.create();
    recoveryKey = created.recoveryKey;
    key = { keyId: created.keyId, key: created.key };
  }
  const secrets: [string, string | undefined][] = [
    [CROSS_SIGNING_SECRETS.master, exported?.masterKey],
    [CROSS_SIGNING_SECRETS.selfSigning, exported?.self_signing_key],
    [CROSS_SIGNING_SECRETS.userSigning, exported?.userSigningKey],
  ];
  for (const [name, value] of secrets) if (value) await storage.put(key, name, value);
  return { opened: key, recoveryKey };
}

async function handOutRecoveryKey(recoveryKey: string, o: IdentityOptions, log: Logger): Promise<void> {
  if (o.recoveryKeyFile) {
    await writeFile(o.recoveryKeyFile, `${recoveryKey}\n`, { mode: 0o600 });
    await chmod(o.recoveryKeyFile, 0o600);
  }
  const show = o.showRecoveryKey ?? ((key: string) => process.stderr.write(
    `\n  niobot created a cross-signing identity for this account. Its RECOVERY KEY (shown once):\n\n      ${key}\n\n` +
      "  Keep it safe. Pass it next time as the recoveryKey option (e.g. MATRIX_RECOVERY_KEY) so a new device can join this identity.\n\n",
  ));
  show(recoveryKey);
  // The logger never sees the key itself: log lines end up in places a secret must not.
  log.warn({ recoveryKeyFile: o.recoveryKeyFile }, "created a new recovery key; it was shown once on standard error" + (o.recoveryKeyFile ? " and written to recoveryKeyFile" : ""));
}

/**
 * Makes sure this device is signed by the account's cross-signing identity
 * (see the module comment for the order of decisions) and checks the result
 * on the server.
 *
 * @throws {@link IdentityError} naming the check that failed; nothing is changed on the server before a check passes.
 */
export async function establishIdentity(ctx: IdentityContext, o: IdentityOptions): Promise<IdentityReport> {
  const started = performance.now();
  const { machine, api, log } = ctx;
  const userId = machine.userId.toString();
  const deviceId = machine.deviceId.toString();
  const before = await queryServerIdentity(api, userId, deviceId);
  // Read before the refresh: the crypto library drops private keys that no longer match the server's identity.
  const stored = await storedMasterKey(machine);
  const replaced = stored !== undefined && before.master !== undefined && stored !== unpadded(before.master);
  if (replaced)
    log.warn({ userId, storedMasterKey: stored, serverMasterKey: before.master }, "the crypto store holds the keys of an earlier cross-signing identity, replaced on the server (a reset from another device); they can no longer sign");
  await refreshOwnKeys(ctx);
  const status = await machine.crossSigningStatus();
  const storage = new SecretStorage(api, userId);
  let outcome: IdentityOutcome;
  let opened: OpenedKey | undefined;
  let signedNow = false;
  if (o.resetIdentity) {
    if (o.recoveryKey) opened = await openStorage(storage, o.recoveryKey).catch(() => undefined);
    const made = await bootstrap(ctx, o, storage, opened);
    opened = made.opened;
    if (made.recoveryKey) await handOutRecoveryKey(made.recoveryKey, o, log);
    outcome = "reset";
    signedNow = true;
    log.warn({ userId, oldMasterKey: before.master }, "reset the account's cross-signing identity, as asked (resetIdentity)");
  } else if (before.master && status.hasSelfSigning && !replaced) {
    outcome = "stored";
    signedNow = await signDevice(ctx);
  } else if (o.recoveryKey && before.master) {
    const key = await openStorage(storage, o.recoveryKey);
    opened = key;
    await importFromSecretStorage(ctx, storage, key);
    outcome = "recovered";
    signedNow = await signDevice(ctx);
  } else if (!before.master) {
    if (o.recoveryKey) opened = await openStorage(storage, o.recoveryKey).catch((error: unknown) => {
      if (error instanceof IdentityError && error.check === "no-default-key") return undefined;
      throw error;
    });
    const made = await bootstrap(ctx, o, storage, opened);
    opened = made.opened;
    if (made.recoveryKey) await handOutRecoveryKey(made.recoveryKey, o, log);
    outcome = "created";
    signedNow = true;
  } else {
    throw new IdentityError(
      "locked",
      `${userId} already has a cross-signing identity, and nothing here can sign with it, so this device would stay unverified. ` +
        (replaced ? `(This crypto store holds the keys of an earlier identity, master key ${stored}, that was reset from another device.) ` : "") +
        "Either give its recovery key (the recoveryKey option, e.g. MATRIX_RECOVERY_KEY), or, to replace the identity (everyone's trust in it and its key backup are lost), " +
        "start once with resetIdentity: true or run `niobot crypto reset-identity`",
    );
  }
  await ctx.save();
  const after = await queryServerIdentity(api, userId, deviceId);
  if (!after.selfSigning || !after.deviceSignatures.includes(`ed25519:${after.selfSigning}`))
    throw new IdentityError("verify", "after signing, the server does not show this device signed by the self-signing key");
  if (outcome !== "reset" && outcome !== "created" && after.master !== before.master)
    throw new IdentityError("verify", "the account's master key changed while the bot was signing its device");
  await refreshOwnKeys(ctx);
  const elapsedMs = Math.round(performance.now() - started);
  log.info({ userId, deviceId, outcome, signedNow, elapsedMs }, "this device is signed by the account's cross-signing identity");
  return { outcome, masterKey: after.master ?? "", signedNow, elapsedMs, secretStorageKey: opened };
}

async function openStorage(storage: SecretStorage, recoveryKey: string): Promise<OpenedKey> {
  try {
    return await storage.open(recoveryKey);
  } catch (error) {
    if (error instanceof SecretStorageError) throw new IdentityError(error.check, error.message);
    throw error;
  }
}
