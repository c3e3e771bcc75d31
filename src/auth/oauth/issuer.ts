/**
 * Finding the OAuth 2.0 authorization server: through the homeserver
 * (`GET /_matrix/client/v1/auth_metadata`, spec v1.15) or at the issuer
 * itself (RFC 8414, then OpenID Connect discovery). Parsing and checks are
 * oauth4webapi's.
 */
import type * as OAuth from "oauth4webapi";
import { lazyModule } from "../../util/lazy.js";
import { MatrixError, MatrixNetworkError } from "../../api/errors.js";
import type { FetchLike } from "../../api/http.js";

/** oauth4webapi loads with the first OAuth request, not with niobot: most bots never use it. */
const oauth = lazyModule<typeof OAuth>("oauth4webapi");

/** The authorization server metadata niobot uses (oauth4webapi's type). */
export type AuthServer = OAuth.AuthorizationServer;

/** Options of every OAuth request: a transport, and cancellation. */
export interface OAuthRequestOptions {
  fetch?: FetchLike;
  signal?: AbortSignal;
}

/**
 * oauth4webapi refuses plain http, as it should; a loopback issuer (a test
 * server, a dev setup) is the one exception niobot allows.
 */
export function requestOptions<T extends object>(url: string, o: OAuthRequestOptions = {}): T {
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/i.test(url);
  return {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.fetch ? { [oauth().customFetch]: (input: string, init: RequestInit) => o.fetch!(input, init) } : {}),
    ...(loopback ? { [oauth().allowInsecureRequests]: true } : {}),
  } as T;
}

/**
 * Asks the homeserver whether it delegates authentication to an OAuth 2.0
 * server, and returns that server's metadata, or undefined when it does not
 * (the endpoint is absent: 404 / `M_UNRECOGNIZED`). The unstable MSC2965 path
 * is tried as well, for servers that predate the stable one.
 */
export async function discoverAuthMetadata(homeserver: string, o: OAuthRequestOptions = {}): Promise<AuthServer | undefined> {
  const base = homeserver.replace(/\/+$/, "");
  const doFetch = o.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));
  for (const path of ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"]) {
    let response: Response;
    try {
      response = await doFetch(base + path, { method: "GET", headers: { accept: "application/json" }, signal: o.signal });
    } catch (error) {
      throw new MatrixNetworkError({ method: "GET", path }, error);
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 404 || body.errcode === "M_UNRECOGNIZED") continue;
    if (!response.ok) throw new MatrixError({ method: "GET", path }, response.status, body);
    if (typeof body.issuer !== "string" || typeof body.token_endpoint !== "string")
      throw new MatrixError({ method: "GET", path }, 502, { errcode: "M_NOT_JSON", error: "auth_metadata without issuer or token_endpoint" });
    return body as unknown as AuthServer;
  }
  return undefined;
}

/** The metadata of an issuer, from its own discovery document (RFC 8414, else OpenID Connect). */
export async function discoverIssuer(issuer: string, o: OAuthRequestOptions = {}): Promise<AuthServer> {
  const url = new URL(issuer);
  let lastError: unknown;
  for (const algorithm of ["oauth2", "oidc"] as const) {
    try {
      const response = await oauth().discoveryRequest(url, { ...requestOptions<OAuth.DiscoveryRequestOptions>(issuer, o), algorithm });
      return await oauth().processDiscoveryResponse(url, response);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
