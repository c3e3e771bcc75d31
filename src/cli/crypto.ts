/**
 * `niobot crypto`: the account's cross-signing identity, secret storage and
 * key backup, as the homeserver holds them (`status`, `recovery-key`,
 * `reset-identity`).
 */
import { parseArgs } from "node:util";
import { MatrixApi } from "../api/client.js";
import { discoverHomeserver } from "../api/discovery.js";
import { endpoints } from "../api/endpoints.js";
import { MatrixError } from "../api/errors.js";
import { queryServerIdentity } from "../crypto/identity.js";
import { SecretStorage, SecretStorageError } from "../crypto/secret-storage.js";
import { CliError, describeApiError, table, usageError } from "./common.js";
import { loadMatrixEnv, readEnvFile } from "../auth/envfile.js";
import type { Prompter } from "./prompt.js";

/** Help of `niobot crypto`. */
export const cryptoHelp = `Usage: niobot crypto <status|recovery-key|reset-identity> [options]

  status          is this device signed by the account's cross-signing identity;
                  the identity's fingerprint (master key), the secret storage key,
                  the key backup version and how many keys it holds, the trust mode
  recovery-key    without --check: create secret storage for an account that has
                  none, and print its new recovery key once (the bot then stores
                  its cross-signing keys and backup key under it when it creates
                  the identity; start it with MATRIX_RECOVERY_KEY)
                  with --check: check a recovery key (or passphrase) against the
                  account's secret storage, without changing anything
  reset-identity  replace the account's cross-signing identity and secret storage
                  (everyone's trust in the old one and its key backup are lost);
                  asks to type the user id (or --yes), then the password, and
                  prints the new recovery key once

Reads the session (MATRIX_HOMESERVER, MATRIX_ACCESS_TOKEN, MATRIX_DEVICE_ID) from
the env file, with variables set in the environment taking precedence. The
recovery key for --check is read from MATRIX_RECOVERY_KEY, else asked for (never
echoed; from a pipe, the first line of standard input). MATRIX_TRUST in the env
file, when set, is shown as the trust mode (the bot's trust option decides it).

Options:
  --env <path>       env file to read (default .env); --env-file <path> works too
  --check            (recovery-key) check a key instead of creating one
  --yes              (reset-identity) do not ask to confirm; the password is still asked
  --json             print JSON
  -h, --help         show this help`;

interface Session {
  api: MatrixApi;
  baseUrl: string;
  userId: string;
  deviceId: string | undefined;
  file: Record<string, string>;
}

async function openSession(envFile: string): Promise<Session> {
  const env = await loadMatrixEnv(envFile);
  if (!env.homeserver || !env.accessToken) {
    const missing = [!env.homeserver && "MATRIX_HOMESERVER", !env.accessToken && "MATRIX_ACCESS_TOKEN"].filter(Boolean).join(" and ");
    throw new CliError(`no session: ${missing} not set (looked in ${envFile} and the environment). Run \`niobot login\` first.`);
  }
  let baseUrl = env.homeserver;
  try {
    if (!/^https?:\/\//i.test(baseUrl)) baseUrl = (await discoverHomeserver(baseUrl)).baseUrl;
  } catch (error) {
    throw describeApiError(error, `cannot use homeserver "${env.homeserver}"`, env.homeserver);
  }
  const api = new MatrixApi({ baseUrl, accessToken: env.accessToken, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  let me;
  try {
    me = await api.account.whoami();
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_UNKNOWN_TOKEN")
      throw new CliError(`the access token was rejected by ${baseUrl} (M_UNKNOWN_TOKEN): run \`niobot login\` again`);
    throw describeApiError(error, "whoami failed", baseUrl);
  }
  const file = await readEnvFile(envFile).catch(() => ({}) as Record<string, string>);
  return { api, baseUrl, userId: me.user_id, deviceId: me.device_id ?? env.deviceId, file };
}

async function backupVersion(api: MatrixApi): Promise<{ version: string; count: number | undefined; algorithm: string } | undefined> {
  try {
    const info = (await api.call(endpoints.roomKeysVersion, {})) as Record<string, unknown>;
    return { version: String(info.version), count: typeof info.count === "number" ? info.count : undefined, algorithm: String(info.algorithm) };
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_NOT_FOUND") return undefined;
    throw error;
  }
}

async function status(s: Session, json: boolean): Promise<number> {
  const identity = s.deviceId ? await queryServerIdentity(s.api, s.userId, s.deviceId) : undefined;
  const signed = identity?.selfSigning !== undefined && identity.deviceSignatures.includes(`ed25519:${identity.selfSigning}`);
  const storage = await new SecretStorage(s.api, s.userId).defaultKey();
  const backup = await backupVersion(s.api);
  const trust = process.env.MATRIX_TRUST ?? s.file.MATRIX_TRUST;
  if (json) {
    console.log(JSON.stringify({
      userId: s.userId, deviceId: s.deviceId ?? null, deviceSigned: signed, masterKey: identity?.master ?? null, selfSigningKey: identity?.selfSigning ?? null,
      secretStorageKey: storage?.keyId ?? null, backupVersion: backup?.version ?? null, backupKeys: backup?.count ?? null, trust: trust ?? null,
    }));
    return 0;
  }
  console.log(table([
    ["user", s.userId],
    ["device", s.deviceId ?? "(unknown: the server did not say)"],
    ["device signed", identity === undefined ? "unknown" : signed ? "yes, by the self-signing key" : identity.master ? "NO: start the bot with its recovery key (MATRIX_RECOVERY_KEY)" : "no (the account has no cross-signing identity yet)"],
    ["identity (master key)", identity?.master ?? "none"],
    ["secret storage key", storage?.keyId ?? "none"],
    ["key backup", backup ? `version ${backup.version}, ${backup.count ?? "?"} keys${backup.algorithm === "m.megolm_backup.v1.curve25519-aes-sha2" ? "" : ` (unknown algorithm ${backup.algorithm})`}` : "none"],
    ["trust mode", trust ?? "set by the bot's trust option (default \"all\")"],
  ]));
  return 0;
}

async function recoveryKey(s: Session, check: boolean, json: boolean, prompter: Prompter): Promise<number> {
  const storage = new SecretStorage(s.api, s.userId);
  if (check) {
    const given = process.env.MATRIX_RECOVERY_KEY ?? s.file.MATRIX_RECOVERY_KEY ?? (await prompter.secret("Recovery key or passphrase: "));
    if (given.trim() === "") throw usageError("empty recovery key");
    try {
      const opened = await storage.open(given.trim());
      if (json) console.log(JSON.stringify({ ok: true, keyId: opened.keyId }));
      else console.log(`The recovery key opens secret storage key ${opened.keyId} of ${s.userId}.`);
      return 0;
    } catch (error) {
      // The key itself never appears in the message: SecretStorageError messages name the check only.
      if (error instanceof SecretStorageError) throw new CliError(`the recovery key was refused (${error.check}): ${error.message}`);
      throw describeApiError(error, "reading secret storage failed", s.baseUrl);
    }
  }
  const existing = await storage.defaultKey();
  if (existing)
    throw new CliError(`${s.userId} already has secret storage (key ${existing.keyId}): check a key with \`niobot crypto recovery-key --check\`; replacing it would orphan what is stored under it`);
  const created = await storage.create();
  if (json) console.log(JSON.stringify({ keyId: created.keyId, recoveryKey: created.recoveryKey }));
  else
    console.log(
      `Created secret storage for ${s.userId} (key ${created.keyId}). Its RECOVERY KEY (shown once):\n\n    ${created.recoveryKey}\n\n` +
        "Keep it safe, and start the bot with it (MATRIX_RECOVERY_KEY): the bot stores its cross-signing keys and backup key under it.",
    );
  return 0;
}

/** Runs `niobot crypto <subcommand>`. */
export async function crypto(argv: string[], prompter: Prompter): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { env: { type: "string" }, "env-file": { type: "string" }, json: { type: "boolean", default: false }, check: { type: "boolean", default: false }, yes: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  const [sub, ...extra] = positionals;
  if (sub === undefined) throw usageError("crypto needs a subcommand: status, recovery-key or reset-identity");
  if (extra.length > 0) throw usageError(`crypto ${sub} takes no arguments (got "${extra[0]}")`);
  if (sub !== "status" && sub !== "recovery-key" && sub !== "reset-identity") throw usageError(`unknown crypto subcommand "${sub}"; run \`niobot crypto --help\``);
  if (values.check && sub !== "recovery-key") throw usageError("--check is an option of `crypto recovery-key`");
  if (values.yes && sub !== "reset-identity") throw usageError("--yes is an option of `crypto reset-identity`");
  const session = await openSession(values.env ?? values["env-file"] ?? ".env");
  if (sub === "reset-identity") return (await import("./crypto-reset.js")).resetIdentity(session, values.yes, prompter);
  try {
    return sub === "status" ? await status(session, values.json) : await recoveryKey(session, values.check, values.json, prompter);
  } catch (error) {
    throw describeApiError(error, `crypto ${sub} failed`, session.baseUrl);
  }
}
