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
import { readEnvFile, updateEnvFile } from "./envfile.js";
import type { Prompter } from "./prompt.js";

/** Help of `niobot login`. */
export const loginHelp = `Usage: niobot login [options]

Logs in with a password and saves the session in an env file:
MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_ACCESS_TOKEN and MATRIX_DEVICE_ID.
Other keys of the file are kept; the file is made private (mode 0600).
What is not given as an option is asked for; the password is never echoed.
When standard input is not a terminal, answers are read from it line by line.

Options:
  --homeserver <url|name>  homeserver URL, or a server name resolved through .well-known
  --user <user>            @user:server, or just user
  --password-stdin         read the password from standard input (needs --homeserver and --user)
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
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`login takes no arguments (got "${positionals[0]}")`);
  if (values["password-stdin"] && (!values.homeserver || !values.user))
    throw usageError("--password-stdin needs --homeserver and --user: standard input holds only the password");
  return {
    homeserver: values.homeserver,
    user: values.user,
    passwordStdin: values["password-stdin"],
    deviceName: values["device-name"],
    envFile: values.env ?? values["env-file"] ?? ".env",
    showToken: values["show-token"],
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

  const user = checkUser(o.user ?? (await prompter.ask("User (@user:server or user): ", saved.MATRIX_USER_ID)));
  const password = o.passwordStdin ? await prompter.readLine() : await prompter.secret("Password: ");
  if (password === "") throw usageError("empty password");
  registerSecret(password);

  const api = new MatrixApi({ baseUrl, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  let session;
  try {
    session = await api.account.loginWithPassword(user, password, { deviceName: o.deviceName });
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
    MATRIX_ACCESS_TOKEN: session.access_token,
    MATRIX_DEVICE_ID: session.device_id,
  });
  console.log(`Logged in as ${session.user_id} (device ${session.device_id}) on ${baseUrl}.`);
  const fixed = update.widerModeFixed === undefined ? "" : ` (its mode was 0${update.widerModeFixed.toString(8)})`;
  console.log(`${update.existed ? "Updated" : "Wrote"} ${o.envFile}: MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_ACCESS_TOKEN, MATRIX_DEVICE_ID; mode 0600${fixed}.`);
  console.log(`Keep ${o.envFile} out of version control: the access token in it is as good as the password.`);
  if (o.showToken) console.log(`Access token: ${session.access_token}`);
  return 0;
}
