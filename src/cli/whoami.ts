/**
 * `niobot whoami`: checks the saved session against the homeserver.
 */
import { parseArgs } from "node:util";
import { MatrixApi } from "../api/client.js";
import { discoverHomeserver } from "../api/discovery.js";
import { MatrixError } from "../api/errors.js";
import { CliError, describeApiError, table, usageError } from "./common.js";
import { loadMatrixEnv } from "../auth/envfile.js";

/** Help of `niobot whoami`. */
export const whoamiHelp = `Usage: niobot whoami [options]

Asks the homeserver who the saved access token belongs to, and prints the
user and device, when the access token expires and whether a refresh token
is held. Reads MATRIX_HOMESERVER, MATRIX_ACCESS_TOKEN, MATRIX_REFRESH_TOKEN and
MATRIX_TOKEN_EXPIRES_AT from the env file; variables set in the environment
take precedence. An expired token with a refresh token is not an error: the
bot renews it when it starts (whoami itself never spends the refresh token).

Options:
  --env <path>       env file to read (default .env); --env-file <path> works too
  --json             print JSON
  -h, --help         show this help`;

/** Runs `niobot whoami`. */
export async function whoami(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { env: { type: "string" }, "env-file": { type: "string" }, json: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`whoami takes no arguments (got "${positionals[0]}")`);
  const envFile = values.env ?? values["env-file"] ?? ".env";
  const env = await loadMatrixEnv(envFile);
  if (!env.homeserver || !env.accessToken) {
    const missing = [!env.homeserver && "MATRIX_HOMESERVER", !env.accessToken && "MATRIX_ACCESS_TOKEN"].filter(Boolean).join(" and ");
    throw new CliError(`no session: ${missing} not set (looked in ${envFile} and the environment). Run \`niobot login\` first.`);
  }

  let baseUrl = env.homeserver;
  try {
    // A URL is used as is; a server name is resolved the way the bot resolves it.
    if (!/^https?:\/\//i.test(baseUrl)) baseUrl = (await discoverHomeserver(baseUrl)).baseUrl;
  } catch (error) {
    throw describeApiError(error, `cannot use homeserver "${env.homeserver}"`, env.homeserver);
  }

  const api = new MatrixApi({ baseUrl, accessToken: env.accessToken, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  const expires = env.expiresAt === undefined ? "never (as far as the env file says)" : `${new Date(env.expiresAt).toISOString()}${env.expiresAt <= Date.now() ? " (expired)" : ` (in ${Math.round((env.expiresAt - Date.now()) / 1000)} s)`}`;
  const refresh = env.refreshToken ? `held${env.oauth ? ` (OAuth: ${env.oauth.issuer})` : ""}` : "none";
  let me;
  try {
    me = await api.account.whoami();
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_UNKNOWN_TOKEN" && error.body.soft_logout === true && env.refreshToken) {
      const facts = { userId: env.userId ?? null, deviceId: env.deviceId ?? null, homeserver: baseUrl, expiresAt: env.expiresAt ?? null, refreshToken: true, expired: true };
      if (values.json) console.log(JSON.stringify(facts));
      else console.log(table([["user", env.userId ?? "(unknown)"], ["device", env.deviceId ?? "(unknown)"], ["homeserver", baseUrl], ["token expires", expires], ["refresh token", refresh]]));
      console.error("the access token has expired; a refresh token is held, so the bot renews it when it starts.");
      return 0;
    }
    if (error instanceof MatrixError && error.errcode === "M_UNKNOWN_TOKEN")
      throw new CliError(
        `the access token from ${env.sources.MATRIX_ACCESS_TOKEN ?? envFile} was rejected by ${baseUrl} (M_UNKNOWN_TOKEN): ` +
          "it was revoked or its device was logged out. Run `niobot login` again.",
      );
    throw describeApiError(error, "whoami failed", baseUrl);
  }

  const deviceId = me.device_id ?? env.deviceId;
  if (values.json) {
    console.log(JSON.stringify({ userId: me.user_id, deviceId: deviceId ?? null, homeserver: baseUrl, isGuest: me.is_guest ?? false, expiresAt: env.expiresAt ?? null, refreshToken: env.refreshToken !== undefined }));
  } else {
    console.log(
      table([
        ["user", me.user_id],
        ["device", deviceId ?? "(unknown: the server did not say)"],
        ["homeserver", baseUrl],
        ["token expires", expires],
        ["refresh token", refresh],
      ]),
    );
  }
  if (env.userId && env.userId !== me.user_id)
    console.error(`warning: MATRIX_USER_ID is ${env.userId}, but the token belongs to ${me.user_id}`);
  if (env.deviceId && me.device_id && env.deviceId !== me.device_id)
    console.error(`warning: MATRIX_DEVICE_ID is ${env.deviceId}, but the token belongs to device ${me.device_id}`);
  return 0;
}
