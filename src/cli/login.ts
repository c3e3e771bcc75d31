/**
 * `niobot login`: password login, saving the session to an env file that the
 * scaffolded bot (and `niobot whoami`) read.
 */
import { parseArgs } from "node:util";
import { MatrixApi } from "../api/client.js";
import { discoverHomeserver } from "../api/discovery.js";
import { MatrixError } from "../api/errors.js";
import { registerSecret } from "../logging/redact.js";
import { CliError, describeApiError, usageError } from "./common.js";
import { readEnvFile, updateEnvFile } from "../auth/envfile.js";
import { discoverAuthMetadata } from "../auth/oauth/issuer.js";
import { tokenEnvEntries } from "../auth/persist.js";
import { tokenSetOf } from "../auth/tokens.js";
import { loginWithOAuth } from "./login-oauth.js";
import type { Prompter } from "./prompt.js";

/** Help of `niobot login`. */
export const loginHelp = `Usage: niobot login [options]

Logs in and saves the session in an env file: MATRIX_HOMESERVER,
MATRIX_USER_ID, MATRIX_ACCESS_TOKEN, MATRIX_DEVICE_ID, and for servers with
expiring tokens MATRIX_REFRESH_TOKEN and MATRIX_TOKEN_EXPIRES_AT.
A server that delegates logins to an OAuth 2.0 server (matrix.org and other
servers on the Matrix Authentication Service) gets the device authorization
grant: a URL and a code to approve in any browser; the OAuth client is saved
too (MATRIX_OAUTH_ISSUER, MATRIX_OAUTH_CLIENT_ID). Otherwise, a password.
Logging in again through OAuth with the same env file keeps the device.
Other keys of the file are kept; the file is made private (mode 0600).
What is not given as an option is asked for; the password is never echoed.
When standard input is not a terminal, answers are read from it line by line.

Options:
  --homeserver <url|name>  homeserver URL, or a server name resolved through .well-known
  --user <user>            @user:server, or just user
  --password-stdin         read the password from standard input (needs --homeserver and --user)
  --oauth                  insist on OAuth 2.0 (fails when the server does not offer it)
  --password               insist on a password login, even where OAuth is offered
  --client-uri <url>       the client_uri registered with an OAuth server (default the niobot homepage)
  --device-name <name>     display name of the new device (default "niobot")
  --env <path>             where to save the session (default .env)
  --env-file <path>        the same, for an existing file (Node.js itself reads a --env-file
                           argument and stops with "not found" when the file does not exist yet)
  --show-token             also print the access token
  -h, --help               show this help`;

/** Parsed `login` options. */
interface LoginOptions {
  homeserver?: string;
  user?: string;
  passwordStdin: boolean;
  deviceName: string;
  envFile: string;
  showToken: boolean;
  mode: "auto" | "oauth" | "password";
  clientUri: string;
}

function parse(argv: string[]): LoginOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      homeserver: { type: "string" },
      user: { type: "string" },
      "password-stdin": { type: "boolean", default: false },
      "device-name": { type: "string", default: "niobot" },
      env: { type: "string" },
      "env-file": { type: "string" },
      "show-token": { type: "boolean", default: false },
      oauth: { type: "boolean", default: false },
      password: { type: "boolean", default: false },
      "client-uri": { type: "string", default: "https://github.com/niobot-dev/niobot" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`login takes no arguments (got "${positionals[0]}")`);
  if (values.oauth && (values.password || values["password-stdin"])) throw usageError("--oauth and a password login exclude each other");
  if (values["password-stdin"] && (!values.homeserver || !values.user))
    throw usageError("--password-stdin needs --homeserver and --user: standard input holds only the password");
  return {
    homeserver: values.homeserver,
    user: values.user,
    passwordStdin: values["password-stdin"],
    deviceName: values["device-name"],
    envFile: values.env ?? values["env-file"] ?? ".env",
    showToken: values["show-token"],
    mode: values.oauth ? "oauth" : values.password || values["password-stdin"] ? "password" : "auto",
    clientUri: values["client-uri"],
  };
}

/**
 * Checks a user as typed: `@user:server` or a bare localpart.
 *
 * @throws {CliError} (usage) for anything else.
 */
export function checkUser(user: string): string {
  const value = user.trim();
  if (value === "") throw usageError("no user given");
  if (/\s/.test(value)) throw usageError(`"${value}" is not a user: no spaces allowed`);
  if (value.startsWith("@") && !/^@[^:]+:.+$/.test(value))
    throw usageError(`"${value}" is not a user id: expected @user:server or just user`);
  return value;
}

/** Runs `niobot login`. */
export async function login(argv: string[], prompter: Prompter): Promise<number> {
  const o = parse(argv);
  const saved = await readEnvFile(o.envFile);

  const homeserver = o.homeserver ?? (await prompter.ask("Homeserver (URL or server name): ", saved.MATRIX_HOMESERVER));
  if (homeserver === "") throw usageError("no homeserver given");
  let baseUrl: string;
  try {
    ({ baseUrl } = await discoverHomeserver(homeserver));
  } catch (error) {
    throw describeApiError(error, `cannot use homeserver "${homeserver}"`, homeserver);
  }
  if (baseUrl !== homeserver.replace(/\/+$/, "")) console.error(`Homeserver: ${baseUrl}`);

  if (o.mode !== "password") {
    let metadata;
    try {
      metadata = await discoverAuthMetadata(baseUrl);
    } catch (error) {
      if (o.mode === "oauth") throw describeApiError(error, "cannot read the server's OAuth 2.0 metadata", baseUrl);
    }
    if (metadata) {
      console.error(`${baseUrl} delegates logins to ${metadata.issuer} (OAuth 2.0).`);
      return loginWithOAuth({ baseUrl, metadata, envFile: o.envFile, saved, clientUri: o.clientUri, showToken: o.showToken });
    }
    if (o.mode === "oauth") throw new CliError(`${baseUrl} does not offer OAuth 2.0 logins (no /_matrix/client/v1/auth_metadata); log in with a password`);
  }

  const user = checkUser(o.user ?? (await prompter.ask("User (@user:server or user): ", saved.MATRIX_USER_ID)));
  const password = o.passwordStdin ? await prompter.readLine() : await prompter.secret("Password: ");
  if (password === "") throw usageError("empty password");
  registerSecret(password);

  const api = new MatrixApi({ baseUrl, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  let session;
  try {
    session = await api.account.loginWithPassword(user, password, { deviceName: o.deviceName, refreshToken: true });
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_FORBIDDEN")
      throw new CliError(`login as ${user} on ${baseUrl} failed: wrong user or password`);
    if (error instanceof MatrixError && error.errcode === "M_USER_DEACTIVATED")
      throw new CliError(`login as ${user} on ${baseUrl} failed: the account is deactivated`);
    throw describeApiError(error, `login as ${user} failed`, baseUrl);
  }

  const update = await updateEnvFile(o.envFile, {
    MATRIX_HOMESERVER: baseUrl,
    MATRIX_USER_ID: session.user_id,
    MATRIX_DEVICE_ID: session.device_id,
    ...tokenEnvEntries(tokenSetOf(session, Date.now())),
  });
  console.log(`Logged in as ${session.user_id} (device ${session.device_id}) on ${baseUrl}.`);
  const fixed = update.widerModeFixed === undefined ? "" : ` (its mode was 0${update.widerModeFixed.toString(8)})`;
  const refresh = session.refresh_token ? ", MATRIX_REFRESH_TOKEN, MATRIX_TOKEN_EXPIRES_AT" : "";
  console.log(`${update.existed ? "Updated" : "Wrote"} ${o.envFile}: MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_ACCESS_TOKEN, MATRIX_DEVICE_ID${refresh}; mode 0600${fixed}.`);
  if (session.refresh_token) console.log("The access token expires; the bot refreshes it and writes the new tokens back to the store (and to this file with the envFile option).");
  console.log(`Keep ${o.envFile} out of version control: the access token in it is as good as the password.`);
  if (o.showToken) console.log(`Access token: ${session.access_token}`);
  return 0;
}
