/**
 * Establishing a session: a given access token, the stored login, or a
 * password login — and storing the result so restarts reuse the device.
 * The session then runs on a `SessionAuth` (`src/auth/`), which refreshes
 * expiring tokens and logs in again to the same device after a soft logout.
 */
import type { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import { matrixRefresher, passwordRelogin } from "../auth/matrix.js";
import { oauthRefresher } from "../auth/oauth/refresh.js";
import { tokenFingerprint, tokenPersister } from "../auth/persist.js";
import { SessionAuth } from "../auth/session.js";
import { tokenSetOf, type TokenSet } from "../auth/tokens.js";
import type { Logger } from "../logging/logger.js";
import { registerSecret } from "../logging/redact.js";
import type { Store, StoredLogin } from "../storage/store.js";
import type { Credentials, Session } from "../core/session.js";

export type { Credentials, Session } from "../core/session.js";

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
  /** An env file holding the token pair, kept up to date on refresh (see `tokenPersister`). */
  envFile?: string;
  signal?: AbortSignal;
  /**
   * With a given access token, return as soon as the token is in place and leave the whoami
   * check to `checked`, so it runs beside the first sync instead of before it. Only where nothing
   * before the first batch needs the device id (the crypto machine, which does, takes its batches
   * once it is open: `src/crypto/start-queue.ts`); the first batch waits for the check.
   */
  checkBeside?: boolean;
}

/** What {@link establishSession} returns: the session, or with `checkBeside` the check to wait for. */
export type EstablishedSession = Session & { checked?: Promise<Session> };

type Base = Omit<StoredLogin, "accessToken" | "refreshToken" | "expiresAt">;

/**
 * Logs in and returns the session. Order: an explicit access token (unless
 * the store holds its refreshed successor); else the stored login for this
 * user and homeserver (checked with whoami, refreshed if expired); else a
 * password login that reuses the stored device id and asks for a refresh token.
 */
export async function establishSession(api: MatrixApi, store: Store, o: SessionOptions, log: Logger): Promise<EstablishedSession> {
  if ("password" in o.credentials) registerSecret(o.credentials.password);
  const stored = await store.getLogin();
  const storedMatches = stored !== undefined && stored.userId === o.userId && stored.homeserver === o.homeserver;
  const password = "password" in o.credentials && o.credentials.password ? o.credentials.password : undefined;

  let candidate: { tokens: TokenSet; base: Partial<Base>; what: string } | undefined;
  if ("accessToken" in o.credentials && o.credentials.accessToken) {
    const c = o.credentials;
    const origin = tokenFingerprint(c.accessToken);
    // The given pair may have been refreshed since (its refresh token is then spent): the store has the successor.
    if (storedMatches && (stored.accessToken === c.accessToken || stored.origin === origin))
      candidate = { tokens: stored, base: stored, what: "the stored (refreshed) access token" };
    else
      candidate = {
        tokens: { accessToken: c.accessToken, refreshToken: c.refreshToken, expiresAt: c.expiresAt },
        base: { origin, oauth: c.oauth, deviceId: o.deviceId ?? (storedMatches ? stored.deviceId : undefined) },
        what: "the access token",
      };
  } else if (storedMatches) candidate = { tokens: stored, base: stored, what: "the stored access token" };

  if (candidate) {
    let deviceId = candidate.base.deviceId ?? o.deviceId;
    const auth = sessionAuth(api, store, o, log, candidate.tokens, { ...candidate.base, userId: o.userId, homeserver: o.homeserver }, () => deviceId, password);
    api.http.setAuth(auth.auth);
    const what = candidate.what;
    const check = async (): Promise<Session> => {
      const session = await whoami(api, o, what, o.signal);
      deviceId = session.deviceId ?? deviceId;
      if (!deviceId) throw new LoginError("the homeserver did not say which device the access token belongs to; pass deviceId");
      auth.setDevice(deviceId);
      // Written once the device is known; later pairs are written by the session itself.
      await store.setLogin({ ...auth.base(), ...auth.auth.tokens });
      log.info({ userId: session.userId, deviceId }, what === "the access token" ? "using the given access token" : "reusing stored login");
      return { userId: session.userId, deviceId };
    };
    // A given token has no fallback (a failed check ends the start), so nothing waits for the check.
    if (o.checkBeside && what === "the access token") {
      const checked = check().catch((error: unknown) => {
        auth.auth.close();
        throw error;
      });
      checked.catch(() => undefined);
      return { userId: o.userId, deviceId: deviceId ?? "", checked };
    }
    try {
      return await check();
    } catch (error) {
      auth.auth.close();
      if (!(error instanceof LoginError) || password === undefined || what === "the access token") throw error;
      log.warn("stored access token no longer valid; logging in again with the password");
    }
  }

  if (password === undefined)
    throw new LoginError(`no stored login for ${o.userId}: start the bot with { password } or { accessToken }`);

  api.http.setAccessToken(undefined);
  const deviceId = o.deviceId ?? (storedMatches ? stored.deviceId : undefined);
  let response;
  try {
    response = await api.account.loginWithPassword(o.userId, password, { deviceId, deviceName: o.deviceName, refreshToken: true, signal: o.signal });
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_FORBIDDEN")
      throw new LoginError(`login as ${o.userId} was refused: wrong user id or password`);
    throw error;
  }
  const tokens = tokenSetOf(response, Date.now());
  const base: Base = { userId: response.user_id, deviceId: response.device_id, homeserver: o.homeserver };
  await store.setLogin({ ...base, ...tokens });
  const auth = sessionAuth(api, store, o, log, tokens, base, () => response.device_id, password);
  api.http.setAuth(auth.auth);
  log.info({ userId: response.user_id, deviceId: response.device_id, refreshable: tokens.refreshToken !== undefined }, "logged in with password");
  return { userId: response.user_id, deviceId: response.device_id };
}

/** Builds the session's token source: refresh at the homeserver or the OAuth issuer, re-login with the password. */
function sessionAuth(
  api: MatrixApi, store: Store, o: SessionOptions, log: Logger, tokens: TokenSet, partial: Partial<Base> & { userId: string; homeserver: string },
  deviceId: () => string | undefined, password: string | undefined,
): { auth: SessionAuth; setDevice: (id: string) => void; base: () => Base } {
  let base: Base = { ...partial, deviceId: partial.deviceId ?? "" };
  const persistTo = tokenPersister({ store, get login() { return base; }, envFile: o.envFile }, tokens);
  const oauth = partial.oauth;
  const auth = new SessionAuth({
    tokens,
    refresh: oauth ? oauthRefresher(oauth.issuer, oauth.clientId) : matrixRefresher(api),
    relogin: password !== undefined && !oauth
      ? passwordRelogin(api, { userId: o.userId, password, deviceId: () => deviceId() ?? "", deviceName: o.deviceName, log })
      : undefined,
    lostWithoutRelogin: oauth ? "refresh-refused" : "no-password",
    persist: persistTo,
    get deviceId() { return deviceId(); },
    log,
  });
  return { auth, setDevice: (id) => (base = { ...base, deviceId: id }), base: () => base };
}

async function whoami(api: MatrixApi, o: SessionOptions, what: string, signal?: AbortSignal): Promise<{ userId: string; deviceId?: string }> {
  let response;
  try {
    response = await api.account.whoami({ signal });
  } catch (error) {
    if (error instanceof MatrixError && (error.errcode === "M_UNKNOWN_TOKEN" || error.status === 401))
      throw new LoginError(`${what} was rejected by the homeserver (M_UNKNOWN_TOKEN): ${error.message}`);
    throw error;
  }
  if (response.user_id !== o.userId)
    throw new LoginError(`${what} belongs to ${response.user_id}, not ${o.userId}`);
  return { userId: response.user_id, deviceId: response.device_id };
}
