/**
 * The token pair a session runs on, and the error for a session that is gone.
 */
import { MatrixError, type RequestInfo } from "../api/errors.js";

/**
 * An access token with what renews it. Contains secrets: never log it.
 *
 * `expiresAt` is a wall-clock time (ms since the epoch), so a pair read back
 * from the store after a restart still says when it runs out.
 */
export interface TokenSet {
  accessToken: string;
  /** Absent: the access token cannot be refreshed. */
  refreshToken?: string;
  /** When the access token expires; absent: it does not. */
  expiresAt?: number;
}

/**
 * The token set of a `/login` or `/refresh` response (`expires_in_ms`
 * counted from `now`). A refresh that returns no new refresh token keeps the
 * old one, as the spec allows.
 */
export function tokenSetOf(
  response: { access_token: string; refresh_token?: string; expires_in_ms?: number },
  now: number,
  previousRefreshToken?: string,
): TokenSet {
  const refreshToken = response.refresh_token ?? previousRefreshToken;
  const expiresIn = response.expires_in_ms;
  return {
    accessToken: response.access_token,
    ...(refreshToken !== undefined ? { refreshToken } : {}),
    ...(typeof expiresIn === "number" && Number.isFinite(expiresIn) && expiresIn >= 0 ? { expiresAt: now + expiresIn } : {}),
  };
}

/** Why a session could not be kept. */
export type SessionLostReason = "hard-logout" | "no-password" | "password-refused" | "refresh-refused";

const ADVICE: Record<SessionLostReason, string> = {
  "hard-logout":
    "the homeserver logged this device out (M_UNKNOWN_TOKEN without soft_logout): its keys must not be reused. " +
    "Log in again as a new device (`niobot login`, or start the bot with { password }) after removing the stored login",
  "no-password":
    "the access token expired and could not be renewed, and no password is available to log in again. " +
    "Run `niobot login` again (or start the bot with { password }, which logs in again to the same device by itself)",
  "password-refused":
    "the access token expired and logging in again to the same device with the password was refused. " +
    "Check the password, then restart the bot",
  "refresh-refused":
    "the authorization server refused the refresh token (it expired or was revoked). " +
    "Authorize the bot again with `niobot login --oauth`; the same device is kept",
};

/**
 * The session is gone and niobot cannot renew it: says what happened and
 * what to do. It is a 401 `M_UNKNOWN_TOKEN` {@link MatrixError}, so the sync
 * loop stops the bot cleanly (exit code 1) as for any revoked token.
 */
export class SessionLostError extends MatrixError {
  /** Why the session was lost. */
  readonly reason: SessionLostReason;
  /** The device the session belonged to. */
  readonly deviceId: string | undefined;

  constructor(reason: SessionLostReason, request: RequestInfo, deviceId?: string, cause?: unknown) {
    super(request, 401, { errcode: "M_UNKNOWN_TOKEN", error: ADVICE[reason], soft_logout: false });
    // The base message names a request; this one says what happened to the session.
    this.message = `session of device ${deviceId ?? "(unknown)"} lost: ${ADVICE[reason]}`;
    Object.defineProperty(this, "name", { value: "SessionLostError" });
    this.reason = reason;
    this.deviceId = deviceId;
    if (cause !== undefined) Object.defineProperty(this, "cause", { value: cause });
  }
}
