/**
 * The Matrix side of OAuth 2.0: the scopes that name the API and the device,
 * device ids, and dynamic client registration of niobot as a public client.
 */
import { randomBytes } from "node:crypto";
import type * as OAuth from "oauth4webapi";
import { lazyModule } from "../../util/lazy.js";
import { requestOptions, type AuthServer, type OAuthRequestOptions } from "./issuer.js";

/** oauth4webapi loads with the first OAuth request, not with niobot: most bots never use it. */
const oauth = lazyModule<typeof OAuth>("oauth4webapi");

/** Full client-server API access (spec: "Allocated scope tokens"). */
export const MATRIX_API_SCOPE = "urn:matrix:client:api:*";
/** Prefix of the scope token that allocates (or keeps) a device. */
export const MATRIX_DEVICE_SCOPE_PREFIX = "urn:matrix:client:device:";

/**
 * The scope to ask for: the whole API, and exactly one device. Asking again
 * with the same device id keeps the device, and with it the crypto identity.
 */
export function matrixScope(deviceId: string): string {
  if (!/^[A-Za-z0-9._~-]+$/.test(deviceId)) throw new Error(`"${deviceId}" is not a valid OAuth device id (RFC 3986 unreserved characters only)`);
  return `${MATRIX_API_SCOPE} ${MATRIX_DEVICE_SCOPE_PREFIX}${deviceId}`;
}

/** The device id a scope names, if any. */
export function deviceIdOfScope(scope: string | undefined): string | undefined {
  const token = scope?.split(" ").find((t) => t.startsWith(MATRIX_DEVICE_SCOPE_PREFIX));
  return token?.slice(MATRIX_DEVICE_SCOPE_PREFIX.length);
}

/** A fresh device id: 12 characters of the unreserved alphabet (the spec asks for 10 or more). */
export function newDeviceId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join("");
}

/** Client metadata of niobot (spec: "Client metadata"). */
export interface ClientRegistration {
  /** Where users can learn about the client; the spec requires it (https). */
  clientUri: string;
  clientName?: string;
}

/**
 * Registers niobot as a public client for the device authorization and
 * refresh token grants (RFC 7591), and returns its `client_id`.
 */
export async function registerClient(as: AuthServer, reg: ClientRegistration, o: OAuthRequestOptions = {}): Promise<string> {
  if (!as.registration_endpoint) throw new Error(`${as.issuer} offers no dynamic client registration (no registration_endpoint)`);
  const metadata = {
    client_name: reg.clientName ?? "niobot",
    client_uri: reg.clientUri,
    application_type: "native",
    token_endpoint_auth_method: "none",
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
    response_types: [],
    redirect_uris: [],
  };
  const response = await oauth().dynamicClientRegistrationRequest(as, metadata as Partial<OAuth.OmitSymbolProperties<OAuth.Client>>, requestOptions(as.registration_endpoint, o));
  const client = await oauth().processDynamicClientRegistrationResponse(response);
  return client.client_id;
}
