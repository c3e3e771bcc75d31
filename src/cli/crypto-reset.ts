/**
 * `niobot crypto reset-identity`: replaces the account's cross-signing
 * identity. It runs on a short-lived device of its own (logged in with the
 * password, which the reset needs anyway for user-interactive auth, and
 * logged out at the end), so the bot's device and crypto store are not touched.
 */
import { DeviceId, initAsync, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import { establishIdentity, IdentityError } from "../crypto/identity.js";
import { RequestPump } from "../crypto/requests.js";
import { silentLogger } from "../logging/logger.js";
import { registerSecret } from "../logging/redact.js";
import { CliError, describeApiError } from "./common.js";
import type { Prompter } from "./prompt.js";

/** What the reset needs from `niobot crypto`. */
export interface ResetSession {
  baseUrl: string;
  userId: string;
}

/**
 * Asks for confirmation (unless `yes`) and the password, then creates a new
 * identity and secret storage and prints the new recovery key once.
 */
export async function resetIdentity(s: ResetSession, yes: boolean, prompter: Prompter): Promise<number> {
  if (!yes) {
    console.error(
      `Resetting replaces the cross-signing identity of ${s.userId}: everyone who verified it must verify it again, ` +
        "and the old recovery key and key backup no longer open with the new identity.",
    );
    const answer = await prompter.ask(`Type the user id (${s.userId}) to reset: `);
    if (answer.trim() !== s.userId) throw new CliError("not confirmed; nothing was changed");
  }
  const password = await prompter.secret("Password: ");
  if (password === "") throw new CliError("empty password; nothing was changed");
  registerSecret(password);

  const anonymous = new MatrixApi({ baseUrl: s.baseUrl, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  let login;
  try {
    login = await anonymous.account.loginWithPassword(s.userId, password, { deviceName: "niobot crypto reset-identity" });
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_FORBIDDEN") throw new CliError(`wrong password for ${s.userId}; nothing was changed`);
    throw describeApiError(error, "login for the reset failed", s.baseUrl);
  }
  registerSecret(login.access_token);
  const api = new MatrixApi({ baseUrl: s.baseUrl, accessToken: login.access_token, maxTransientRetries: 1, requestTimeoutMs: 30_000 });
  await initAsync();
  // In memory: this device exists only for the reset.
  const machine = await OlmMachine.initialize(new UserId(login.user_id), new DeviceId(login.device_id));
  let recoveryKey: string | undefined;
  try {
    const pump = new RequestPump(machine, api, silentLogger);
    await pump.pump();
    const report = await establishIdentity(
      { machine, api, pump, log: silentLogger, save: async () => undefined },
      { resetIdentity: true, password, showRecoveryKey: (key) => (recoveryKey = key) },
    );
    if (!recoveryKey) throw new CliError("the identity was reset, but no new recovery key was made");
    console.log(
      `Reset the cross-signing identity of ${s.userId}. New identity (master key): ${report.masterKey}\n` +
        `Its new RECOVERY KEY (shown once):\n\n    ${recoveryKey}\n\n` +
        "Keep it safe, and start the bot with it (MATRIX_RECOVERY_KEY): its crypto store can stay, the old identity's keys in it no longer count.",
    );
    return 0;
  } catch (error) {
    if (error instanceof IdentityError) throw new CliError(`the reset failed (${error.check}): ${error.message}`);
    throw describeApiError(error, "the reset failed", s.baseUrl);
  } finally {
    machine.close();
    await api.account.logout().catch(() => undefined);
  }
}
