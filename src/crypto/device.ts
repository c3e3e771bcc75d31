/**
 * Device identity rules. A device id stands for one set of identity keys
 * forever: other users pin them. So when the crypto store of a device that
 * already published keys is gone, the bot must never upload new keys under
 * the same id; it logs in as a new device instead (with the password), and
 * deletes the old one so nobody keeps encrypting for it.
 *
 * @module
 */
import { UserId, type OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { MatrixApi } from "../api/client.js";
import { endpoints } from "../api/endpoints.js";
import { MatrixError } from "../api/errors.js";
import type { Credentials, Session } from "../core/session.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../storage/store.js";
import { CryptoStoreLostError } from "./errors.js";
import type { CryptoHost } from "./events.js";
import type { OutgoingRequest, RequestPump } from "./requests.js";
import type { CryptoStoreFile, RestoreResult } from "./store.js";

/** Whether the server already has identity keys for this device. */
export async function deviceHasKeys(api: MatrixApi, userId: string, deviceId: string): Promise<boolean> {
  const response = (await api.call(endpoints.keysQuery, { body: { device_keys: { [userId]: [deviceId] } } })) as {
    device_keys?: Record<string, Record<string, unknown>>;
  };
  return response.device_keys?.[userId]?.[deviceId] !== undefined;
}

/** Options of {@link replaceDevice}. */
export interface ReplaceDeviceOptions {
  password: string;
  deviceName: string;
  log: Logger;
}

/**
 * Logs in as a new device, stores the new login, and deletes the old device
 * (user-interactive auth with the password). Returns the new session.
 */
export async function replaceDevice(api: MatrixApi, store: Store, old: Session, o: ReplaceDeviceOptions): Promise<Session> {
  const stored = await store.getLogin();
  const response = await api.account.loginWithPassword(old.userId, o.password, { deviceName: o.deviceName });
  api.http.setAccessToken(response.access_token);
  await store.setLogin({
    userId: response.user_id,
    deviceId: response.device_id,
    accessToken: response.access_token,
    homeserver: stored?.homeserver ?? api.http.baseUrl,
  });
  o.log.warn({ oldDeviceId: old.deviceId, deviceId: response.device_id }, "crypto store lost: logged in as a new device");
  try {
    await deleteDevice(api, old.userId, old.deviceId, o.password);
    o.log.info({ deviceId: old.deviceId }, "deleted the device whose keys were lost");
  } catch (error) {
    o.log.warn({ deviceId: old.deviceId, error: (error as Error).message }, "could not delete the old device; delete it from another client");
  }
  return { userId: response.user_id, deviceId: response.device_id };
}

/** Deletes a device, answering the user-interactive auth challenge with the password. */
export async function deleteDevice(api: MatrixApi, userId: string, deviceId: string, password: string): Promise<void> {
  let session: string | undefined;
  try {
    await api.account.deleteDevice(deviceId, undefined);
    return;
  } catch (error) {
    if (!(error instanceof MatrixError) || error.status !== 401) throw error;
    const body = error.body as { session?: unknown } | undefined;
    session = typeof body?.session === "string" ? body.session : undefined;
  }
  await api.account.deleteDevice(deviceId, {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password,
    ...(session ? { session } : {}),
  });
}

/**
 * Decides which device the crypto machine runs as: the session's own when
 * the restored store belongs to it, or when the device never published keys
 * (a fresh device); otherwise a new device (with the password), since the
 * old device's keys are gone.
 *
 * @throws {@link CryptoStoreLostError} when a new device is needed but there is no password.
 */
export async function resolveDevice(
  host: Pick<CryptoHost, "api" | "store" | "log">,
  file: CryptoStoreFile,
  restored: RestoreResult,
  session: Session,
  credentials: Credentials,
  deviceName: string,
): Promise<{ session: Session; usable: boolean }> {
  const usable = restored.kind === "restored" && restored.meta.userId === session.userId && restored.meta.deviceId === session.deviceId;
  if (restored.kind === "restored" && !usable) {
    host.log.warn({ storeDeviceId: restored.meta.deviceId, deviceId: session.deviceId }, "the crypto store belongs to another device; not using it");
    await file.wipe();
  }
  if (restored.kind === "unreadable") host.log.error({ error: restored.error.message, path: file.path }, "the crypto store is unreadable");
  if (usable || !(await deviceHasKeys(host.api, session.userId, session.deviceId))) return { session, usable };
  const reason = restored.kind === "none" ? "missing" : restored.kind === "unreadable" ? "unreadable" : "for another device";
  const password = "password" in credentials ? credentials.password : undefined;
  if (!password) throw new CryptoStoreLostError(session.deviceId, reason);
  return { session: await replaceDevice(host.api, host.store, session, { password, deviceName, log: host.log }), usable: false };
}

/** See {@link BotCrypto.bootstrapCrossSigning}. */
export async function bootstrapCrossSigning(
  machine: OlmMachine,
  host: Pick<CryptoHost, "api" | "log">,
  pump: RequestPump,
  file: CryptoStoreFile,
  password: string,
): Promise<"created" | "already"> {
  const status = await machine.crossSigningStatus();
  if (status.hasMaster && status.hasSelfSigning && status.hasUserSigning) return "already";
  const userId = machine.userId.toString();
  const existing = (await host.api.call(endpoints.keysQuery, { body: { device_keys: { [userId]: [] } } })) as { master_keys?: Record<string, unknown> };
  if (existing.master_keys?.[userId] !== undefined)
    throw new Error(`${userId} already has cross-signing keys; adopting them (recovery key) is not supported, so the bot's device stays unsigned`);
  const requests = await machine.bootstrapCrossSigning(true);
  if (requests.uploadKeysRequest) await pump.send(requests.uploadKeysRequest as OutgoingRequest);
  const body = JSON.parse(requests.uploadSigningKeysRequest.body) as Record<string, unknown>;
  await withPasswordAuth(userId, password, (auth) => host.api.call(endpoints.keysDeviceSigningUpload, { body: auth ? { ...body, auth } : body }));
  if (!(await pump.send(requests.uploadSignaturesRequest))) throw new Error("could not upload the signature of the bot's device");
  // Our own identity is now on the server; fetch it so the machine sees it as verified.
  await machine.updateTrackedUsers([new UserId(userId)]);
  await pump.pump();
  await file.save();
  host.log.info({ userId }, "cross-signing set up; this device is signed");
  return "created";
}

/** Runs a request behind user-interactive auth, answering the challenge with the password. */
async function withPasswordAuth<T>(userId: string, password: string, call: (auth: Record<string, unknown> | undefined) => Promise<T>): Promise<T> {
  try {
    return await call(undefined);
  } catch (error) {
    if (!(error instanceof MatrixError) || error.status !== 401) throw error;
    const session = typeof error.body.session === "string" ? error.body.session : undefined;
    return call({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password, ...(session ? { session } : {}) });
  }
}
