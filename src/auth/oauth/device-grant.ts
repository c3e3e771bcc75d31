/**
 * The device authorization grant (RFC 8628; spec v1.18 "Device authorisation
 * flow"): for an operator at a terminal. niobot shows a URL and a code, the
 * operator approves in any browser, and niobot polls the token endpoint.
 */
import type * as OAuth from "oauth4webapi";
import { lazyModule } from "../../util/lazy.js";
import { sleep } from "../../util/async.js";
import { matrixScope } from "./client.js";
import { requestOptions, type AuthServer, type OAuthRequestOptions } from "./issuer.js";
import { oauthTokenSet, type OAuthTokens } from "./refresh.js";

/** oauth4webapi loads with the first OAuth request, not with niobot: most bots never use it. */
const oauth = lazyModule<typeof OAuth>("oauth4webapi");

/** What to show the operator, and how to wait for their approval. */
export interface DeviceAuthorization {
  /** The code to type at {@link DeviceAuthorization.verificationUri}. */
  userCode: string;
  verificationUri: string;
  /** The URL with the code filled in, when the server offers it. */
  verificationUriComplete: string | undefined;
  /** Seconds until the code expires. */
  expiresIn: number;
  /** The device the tokens will belong to. */
  deviceId: string;
  /** Polls until the operator approved (or denied, or the code expired). */
  wait(signal?: AbortSignal): Promise<OAuthTokens>;
}

/**
 * Starts a device authorization for `deviceId` (reuse the bot's device id
 * to re-authorize it without a new device).
 */
export async function startDeviceAuthorization(as: AuthServer, clientId: string, deviceId: string, o: OAuthRequestOptions = {}): Promise<DeviceAuthorization> {
  if (!as.device_authorization_endpoint) throw new Error(`${as.issuer} does not offer the device authorization grant`);
  const client: OAuth.Client = { client_id: clientId, token_endpoint_auth_method: "none" };
  const auth = oauth().None();
  const response = await oauth().deviceAuthorizationRequest(as, client, auth, { scope: matrixScope(deviceId) }, requestOptions(as.device_authorization_endpoint, o));
  const started = await oauth().processDeviceAuthorizationResponse(as, client, response);
  return {
    userCode: started.user_code,
    verificationUri: started.verification_uri,
    verificationUriComplete: started.verification_uri_complete,
    expiresIn: started.expires_in,
    deviceId,
    async wait(signal?: AbortSignal): Promise<OAuthTokens> {
      let interval = (started.interval ?? 5) * 1000;
      const deadline = Date.now() + started.expires_in * 1000;
      for (;;) {
        await sleep(interval, signal);
        const poll = await oauth().deviceCodeGrantRequest(as, client, auth, started.device_code, requestOptions(as.token_endpoint ?? "", { ...o, signal }));
        try {
          return oauthTokenSet(await oauth().processDeviceCodeResponse(as, client, poll), Date.now());
        } catch (error) {
          if (!(error instanceof oauth().ResponseBodyError)) throw error;
          if (error.error === "authorization_pending") {
            if (Date.now() > deadline) throw new Error("the device code expired before it was approved");
            continue;
          }
          if (error.error === "slow_down") {
            interval += 5000; // RFC 8628 section 3.5
            continue;
          }
          throw new Error(`the authorization was not granted: ${error.error}${error.error_description ? ` (${error.error_description})` : ""}`);
        }
      }
    },
  };
}
