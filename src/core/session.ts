/**
 * The session a bot runs as and the credentials it logs in with. They live
 * here, below every layer, because the bot (which logs in) and the crypto
 * layer (which keys the device) both need them.
 *
 * @module
 */

/**
 * How to log in: a password, an access token (with its refresh token and
 * expiry, and the OAuth client when it came from an OAuth server), or
 * nothing (use the stored login).
 */
export type Credentials =
  | { password: string }
  | { accessToken: string; refreshToken?: string; expiresAt?: number; oauth?: { issuer: string; clientId: string } }
  | Record<string, never>;

/** The session a bot runs as. */
export interface Session {
  userId: string;
  deviceId: string;
}
