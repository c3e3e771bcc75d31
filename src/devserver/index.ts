/**
 * `niobot/devserver`: a homeserver for tests, demos and local development.
 *
 * Use {@link connectTestHomeserver} in test suites: it honours an external
 * server from the environment and otherwise starts a local Synapse.
 */
import { registerWithSharedSecret } from "./register.js";
import { startDevHomeserver, type DevHomeserver, type DevHomeserverOptions } from "./synapse.js";

export {
  RegistrationError,
  registerWithSharedSecret,
  type RegisteredUser,
  type SharedSecretRegisterOptions,
} from "./register.js";
export { defaultSynapseCacheDir, ensureSynapseRootfs, isSynapseRootfs, type RootfsOptions } from "./rootfs.js";
export { startDevHomeserver, type DevHomeserver, type DevHomeserverOptions } from "./synapse.js";

/**
 * Get a homeserver for integration tests.
 *
 * If `MATRIX_TEST_HOMESERVER` (base URL) and `MATRIX_TEST_REGISTRATION_SECRET`
 * are both set, returns a handle on that existing server (checked to be
 * reachable; `stop()` does nothing, since we do not own it). Its
 * `serverName` comes from `MATRIX_TEST_SERVER_NAME`, else the URL's host,
 * and is corrected from the first user id registration returns.
 *
 * Otherwise starts a local Synapse with {@link startDevHomeserver} (`options`
 * apply only in that case). Setting just one of the two variables is an error:
 * silently starting a local server would hide the misconfiguration.
 */
export async function connectTestHomeserver(options?: DevHomeserverOptions): Promise<DevHomeserver> {
  const url = process.env.MATRIX_TEST_HOMESERVER;
  const secret = process.env.MATRIX_TEST_REGISTRATION_SECRET;
  if (!url && !secret) return startDevHomeserver(options);
  if (!url || !secret) {
    throw new Error("Set both MATRIX_TEST_HOMESERVER and MATRIX_TEST_REGISTRATION_SECRET, or neither.");
  }
  const baseUrl = url.replace(/\/+$/, "");
  let serverName = process.env.MATRIX_TEST_SERVER_NAME ?? new URL(baseUrl).hostname;

  // Fail here, with the URL in the message, rather than in the first test.
  const res = await fetch(`${baseUrl}/_matrix/client/versions`, { signal: AbortSignal.timeout(10_000) }).catch(
    (err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`MATRIX_TEST_HOMESERVER=${baseUrl} is not reachable: ${reason}`);
    },
  );
  if (!res.ok) throw new Error(`MATRIX_TEST_HOMESERVER=${baseUrl} answered HTTP ${res.status} on /versions`);

  return {
    baseUrl,
    get serverName() {
      return serverName;
    },
    registrationSecret: secret,
    pid: undefined,
    dataDir: undefined,
    logFile: undefined,
    async registerUser(localpart, password, opts) {
      const user = await registerWithSharedSecret(baseUrl, secret, localpart, password, opts);
      // The user id is authoritative: "@local:server.name" (server names may contain ':port').
      serverName = user.userId.slice(user.userId.indexOf(":") + 1);
      return user;
    },
    async stop() {
      // Not ours to stop.
    },
  };
}
