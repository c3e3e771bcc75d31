/**
 * `niobot login --oauth` (or any server that advertises OAuth 2.0): the
 * device authorization grant at a terminal. Prints a URL and a code, waits
 * for the operator to approve in a browser, then saves the session.
 */
import { MatrixApi } from "../api/client.js";
import { registerClient, newDeviceId } from "../auth/oauth/client.js";
import { startDeviceAuthorization } from "../auth/oauth/device-grant.js";
import type { AuthServer } from "../auth/oauth/issuer.js";
import { tokenEnvEntries } from "../auth/persist.js";
import { CliError, describeApiError } from "./common.js";
import { updateEnvFile } from "../auth/envfile.js";

/** What the OAuth login needs from `niobot login`. */
export interface OAuthLoginOptions {
  baseUrl: string;
  metadata: AuthServer;
  envFile: string;
  /** The env file as it was: a saved device and client of this server are reused. */
  saved: Record<string, string>;
  clientUri: string;
  showToken: boolean;
  /** Cancels the wait (Ctrl-C). */
  signal?: AbortSignal;
}

/** Runs the device grant and writes the env file; returns the exit code. */
export async function loginWithOAuth(o: OAuthLoginOptions): Promise<number> {
  const sameServer = o.saved.MATRIX_HOMESERVER === o.baseUrl;
  // Re-authorizing keeps the device (and its keys): the scope names the saved device id.
  const deviceId = (sameServer && o.saved.MATRIX_DEVICE_ID) || newDeviceId();
  let clientId = sameServer && o.saved.MATRIX_OAUTH_ISSUER === o.metadata.issuer ? o.saved.MATRIX_OAUTH_CLIENT_ID : undefined;
  try {
    clientId ||= await registerClient(o.metadata, { clientUri: o.clientUri }, { signal: o.signal });
  } catch (error) {
    throw new CliError(`registering niobot with ${o.metadata.issuer} failed: ${(error as Error).message}`);
  }
  let started;
  try {
    started = await startDeviceAuthorization(o.metadata, clientId, deviceId, { signal: o.signal });
  } catch (error) {
    throw new CliError(`the device authorization at ${o.metadata.issuer} failed: ${(error as Error).message}`);
  }
  console.log(`To log the bot in, open ${started.verificationUriComplete ?? started.verificationUri}`);
  console.log(`and enter the code ${started.userCode} (valid for ${Math.round(started.expiresIn / 60)} minutes). Waiting...`);
  let tokens;
  try {
    tokens = await started.wait(o.signal);
  } catch (error) {
    throw new CliError(`login through ${o.metadata.issuer} did not complete: ${(error as Error).message}`);
  }
  if (tokens.deviceId !== undefined && tokens.deviceId !== deviceId)
    throw new CliError(`the server granted device ${tokens.deviceId}, not the requested ${deviceId}`);
  const api = new MatrixApi({ baseUrl: o.baseUrl, accessToken: tokens.accessToken, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  let me;
  try {
    me = await api.account.whoami();
  } catch (error) {
    throw describeApiError(error, "the new access token was not accepted by the homeserver", o.baseUrl);
  }
  await updateEnvFile(o.envFile, {
    MATRIX_HOMESERVER: o.baseUrl,
    MATRIX_USER_ID: me.user_id,
    MATRIX_DEVICE_ID: me.device_id ?? deviceId,
    ...tokenEnvEntries(tokens),
    MATRIX_OAUTH_ISSUER: o.metadata.issuer,
    MATRIX_OAUTH_CLIENT_ID: clientId,
  });
  console.log(`Logged in as ${me.user_id} (device ${me.device_id ?? deviceId}) on ${o.baseUrl} through ${o.metadata.issuer}.`);
  console.log(`Wrote ${o.envFile} (mode 0600): the tokens, the device and the OAuth client. The bot refreshes the tokens at the issuer and writes the new ones back.`);
  if (o.showToken) console.log(`Access token: ${tokens.accessToken}`);
  return 0;
}
