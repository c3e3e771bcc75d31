/**
 * Establishing a session: a given access token, the stored login, or a
 * password login — and storing the result so restarts reuse the device.
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { Logger } from "../logging/logger.js";
import { registerSecret } from "../logging/redact.js";
import type { Store } from "../storage/store.js";

/** How to log in: a password, an access token, or nothing (use the stored login). */
export type Credentials = { password: string } | { accessToken: string } | Record<string, never>;

/** The session a bot runs as. */
export interface Session {
  userId: string;
  deviceId: string;
}

/** Login failed in a way the operator must fix. */
export class LoginError extends Error {
  override readonly name = "LoginError";
}

/** Options of {@link establishSession}. */
export interface SessionOptions {
  homeserver: string;
  userId: string;
  deviceId?: string;
  deviceName: string;
  credentials: Credentials;
  signal?: AbortSignal;
}

/**
 * Logs in and returns the session. Order: an explicit access token; else the
 * stored login for this user and homeserver (checked with whoami); else a
 * password login that reuses the stored device id, so the device persists.
 */
export async function establishSession(api: MatrixApi, store: Store, o: SessionOptions, log: Logger): Promise<Session> {
  if ("password" in o.credentials) registerSecret(o.credentials.password);
  const stored = await store.getLogin();
  const storedMatches = stored && stored.userId === o.userId && stored.homeserver === o.homeserver;

  if ("accessToken" in o.credentials && o.credentials.accessToken) {
    api.http.setAccessToken(o.credentials.accessToken);
    const session = await whoami(api, o, "the access token", o.signal);
    const deviceId = session.deviceId ?? o.deviceId ?? (storedMatches ? stored.deviceId : undefined);
    if (!deviceId) throw new LoginError("the homeserver did not say which device the access token belongs to; pass deviceId");
    await store.setLogin({ userId: session.userId, deviceId, accessToken: o.credentials.accessToken, homeserver: o.homeserver });
    return { userId: session.userId, deviceId };
  }

  if (storedMatches) {
    api.http.setAccessToken(stored.accessToken);
    try {
      const session = await whoami(api, o, "the stored access token", o.signal);
      log.info({ userId: session.userId, deviceId: stored.deviceId }, "reusing stored login");
      return { userId: session.userId, deviceId: stored.deviceId };
    } catch (error) {
      if (!(error instanceof LoginError) || !("password" in o.credentials)) throw error;
      log.warn("stored access token no longer valid; logging in again with the password");
    }
  }

  if (!("password" in o.credentials) || !o.credentials.password)
    throw new LoginError(`no stored login for ${o.userId}: start the bot with { password } or { accessToken }`);

  api.http.setAccessToken(undefined);
  const deviceId = o.deviceId ?? (storedMatches ? stored.deviceId : undefined);
  let response;
  try {
    response = await api.account.loginWithPassword(o.userId, o.credentials.password, { deviceId, deviceName: o.deviceName, signal: o.signal });
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_FORBIDDEN")
      throw new LoginError(`login as ${o.userId} was refused: wrong user id or password`);
    throw error;
  }
  api.http.setAccessToken(response.access_token);
  await store.setLogin({ userId: response.user_id, deviceId: response.device_id, accessToken: response.access_token, homeserver: o.homeserver });
  log.info({ userId: response.user_id, deviceId: response.device_id }, "logged in with password");
  return { userId: response.user_id, deviceId: response.device_id };
}

async function whoami(api: MatrixApi, o: SessionOptions, what: string, signal?: AbortSignal): Promise<{ userId: string; deviceId?: string }> {
  let response;
  try {
    response = await api.account.whoami({ signal });
  } catch (error) {
    if (error instanceof MatrixError && (error.errcode === "M_UNKNOWN_TOKEN" || error.status === 401))
      throw new LoginError(`${what} was rejected by the homeserver (M_UNKNOWN_TOKEN)`);
    throw error;
  }
  if (response.user_id !== o.userId)
    throw new LoginError(`${what} belongs to ${response.user_id}, not ${o.userId}`);
  return { userId: response.user_id, deviceId: response.device_id };
}
