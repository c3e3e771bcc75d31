/**
 * The homeserver's own renewal paths (the legacy API): `POST /refresh`, and
 * a password login to the same device after a soft logout.
 */
import type { MatrixApi } from "../api/client.js";
import type { Logger } from "../logging/logger.js";
import { tokenSetOf, type TokenSet } from "./tokens.js";

/** `POST /refresh` as a `SessionAuth` refresh step. */
export function matrixRefresher(api: MatrixApi): (refreshToken: string, signal: AbortSignal) => Promise<TokenSet> {
  return async (refreshToken, signal) => {
    const response = await api.account.refresh(refreshToken, { signal });
    return tokenSetOf(response, Date.now(), refreshToken);
  };
}

/** Options of {@link passwordRelogin}. */
export interface ReloginOptions {
  userId: string;
  password: string;
  /** Read at login time: the device the session is on now. */
  deviceId: () => string;
  deviceName: string;
  log: Logger;
}

/**
 * A password login naming the current device (`device_id`), so the server
 * keeps the device and with it the encryption identity, keys and sync position.
 */
export function passwordRelogin(api: MatrixApi, o: ReloginOptions): (signal: AbortSignal) => Promise<TokenSet> {
  return async (signal) => {
    const deviceId = o.deviceId();
    const response = await api.account.loginWithPassword(o.userId, o.password, { deviceId, deviceName: o.deviceName, refreshToken: true, signal });
    if (response.device_id !== deviceId)
      o.log.warn({ deviceId, got: response.device_id }, "the homeserver logged in to another device than the one asked for");
    return tokenSetOf(response, Date.now());
  };
}
