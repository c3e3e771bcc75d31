/**
 * Refreshing at the issuer's `token_endpoint` (the refresh token grant),
 * with failures translated to niobot's Matrix error classes so that
 * `SessionAuth` treats them like `/refresh` failures: 4xx means the session is
 * over, network and 5xx mean "try again later".
 */
import type * as OAuth from "oauth4webapi";
import { lazyModule } from "../../util/lazy.js";
import { MatrixError, MatrixNetworkError } from "../../api/errors.js";
import type { TokenSet } from "../tokens.js";
import { deviceIdOfScope } from "./client.js";
import { discoverIssuer, requestOptions, type AuthServer, type OAuthRequestOptions } from "./issuer.js";

/** oauth4webapi loads with the first OAuth request, not with niobot: most bots never use it. */
const oauth = lazyModule<typeof OAuth>("oauth4webapi");

/** A token pair from the token endpoint, with the scope it was granted. */
export interface OAuthTokens extends TokenSet {
  scope: string | undefined;
  /** The device the scope names. */
  deviceId: string | undefined;
}

/** The token set of a token endpoint response. */
export function oauthTokenSet(response: OAuth.TokenEndpointResponse, now: number, previousRefreshToken?: string): OAuthTokens {
  const refreshToken = response.refresh_token ?? previousRefreshToken;
  return {
    accessToken: response.access_token,
    ...(refreshToken !== undefined ? { refreshToken } : {}),
    ...(typeof response.expires_in === "number" ? { expiresAt: now + response.expires_in * 1000 } : {}),
    scope: response.scope,
    deviceId: deviceIdOfScope(response.scope),
  };
}

/**
 * One refresh token grant. A refused grant (`invalid_grant`: expired,
 * revoked, or reused after rotation) becomes a 4xx {@link MatrixError}.
 */
export async function refreshAt(as: AuthServer, clientId: string, refreshToken: string, o: OAuthRequestOptions = {}): Promise<OAuthTokens> {
  const client: OAuth.Client = { client_id: clientId, token_endpoint_auth_method: "none" };
  const info = { method: "POST", path: new URL(as.token_endpoint ?? as.issuer).pathname };
  let response: Response;
  try {
    response = await oauth().refreshTokenGrantRequest(as, client, oauth().None(), refreshToken, requestOptions(as.token_endpoint ?? "", o));
  } catch (error) {
    if (o.signal?.aborted) throw error;
    throw new MatrixNetworkError(info, error);
  }
  try {
    return oauthTokenSet(await oauth().processRefreshTokenResponse(as, client, response), Date.now(), refreshToken);
  } catch (error) {
    if (error instanceof oauth().ResponseBodyError)
      throw new MatrixError(info, error.status, { errcode: error.status >= 500 ? "M_UNKNOWN" : "M_UNKNOWN_TOKEN", error: `${error.error}${error.error_description ? `: ${error.error_description}` : ""}` });
    if (response.status >= 500) throw new MatrixError(info, response.status, { errcode: "M_UNKNOWN", error: "token endpoint failed" });
    throw error;
  }
}

/**
 * The refresh step of an OAuth session: the issuer's metadata is discovered
 * on first use (and again after a failure), then every refresh goes to its token endpoint.
 */
export function oauthRefresher(issuer: string, clientId: string, o: Omit<OAuthRequestOptions, "signal"> = {}): (refreshToken: string, signal: AbortSignal) => Promise<TokenSet> {
  let metadata: Promise<AuthServer> | undefined;
  return async (refreshToken, signal) => {
    metadata ??= discoverIssuer(issuer, o).catch((error: unknown) => {
      metadata = undefined;
      throw new MatrixNetworkError({ method: "GET", path: "/.well-known/openid-configuration" }, error);
    });
    const tokens = await refreshAt(await metadata, clientId, refreshToken, { ...o, signal });
    return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt };
  };
}
