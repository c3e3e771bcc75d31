/**
 * Throwaway Synapse homeservers for tests, the demo and `niobot dev-server`.
 *
 * Synapse runs from the Debian sid rootfs (see rootfs.ts) via chroot. It needs
 * neither /proc nor /dev mounted (tested with Synapse 1.160: the rootfs ships
 * /dev nodes and Python uses getrandom()), so the common case mounts nothing.
 * Only a dataDir outside the rootfs needs a bind mount, done inside a private
 * mount namespace (`unshare --mount`) so it vanishes with the process.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, rm, rmdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { isAbsolute, join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { registerWithSharedSecret, type RegisteredUser } from "./register.js";
import { assertRoot, ensureSynapseRootfs, isAlive, spawnInRootfs } from "./rootfs.js";

export type { RegisteredUser } from "./register.js";

/** Options for {@link startDevHomeserver}. */
export interface DevHomeserverOptions {
  /** Instance dir. Default: fresh `<rootfs>/srv/niobot/<pid>-<hex>`. Dirs outside the rootfs get bind-mounted. */
  dataDir?: string;
  /** Loopback port. Default: a free one (retried if another process grabs it first). */
  port?: number;
  /**
   * "relaxed" (default) lifts every `rc_*` limit; "default" keeps Synapse's own, for rate-limit tests;
   * an object keeps Synapse's defaults except the `rc_*` keys it sets (e.g. a tighter `rc_message`).
   */
  rateLimits?: "relaxed" | "default" | Record<`rc_${string}`, unknown>;
  /** Synapse `max_upload_size`. Default "50M". */
  maxUploadSize?: string;
  /** Synapse `enable_authenticated_media`. Default true; false keeps the legacy unauthenticated downloads serving new media (old-server tests). */
  authenticatedMedia?: boolean;
  /**
   * Expiring tokens, for refresh tests: Synapse's `refreshable_access_token_lifetime`
   * (access tokens of clients that ask for a refresh token) and `refresh_token_lifetime`,
   * as Synapse durations ("20s", "5m"). Default: Synapse's (refresh tokens off).
   */
  tokenLifetimes?: { refreshableAccessToken?: string; refreshToken?: string };
  /** Default "localhost". */
  serverName?: string;
  /**
   * Application service registrations to load (`app_service_config_files`): paths of YAML
   * files or their text. Each is copied into the instance dir, where Synapse (in its chroot)
   * can read it. Synapse shares the host's network, so a registration `url` on 127.0.0.1 works.
   */
  appservices?: { path?: string; yaml?: string }[];
  /**
   * Synapse's experimental appservice encryption support: MSC2409 (to-device events in
   * transactions) and MSC3202 (device lists, one-time key counts). Default off.
   */
  appserviceEncryption?: boolean;
  /** Rootfs cache dir, see {@link ensureSynapseRootfs}. */
  cacheDir?: string;
  /** Keep the data dir on stop(). A pre-existing non-empty dataDir is never deleted either way. */
  keepData?: boolean;
  /** Receives progress lines (rootfs build, startup). */
  onProgress?: (message: string) => void;
  /** Aborts startup; aborting after startup stops the server. */
  signal?: AbortSignal;
  /** Readiness timeout in ms. Default 60000. */
  startTimeoutMs?: number;
}

/** A running homeserver (local Synapse, or an external one from connectTestHomeserver). */
export interface DevHomeserver {
  /** e.g. "http://127.0.0.1:PORT", no trailing slash. */
  readonly baseUrl: string;
  readonly serverName: string;
  /** Shared secret for admin registration. Never log it. */
  readonly registrationSecret: string;
  /** Synapse's pid; undefined for external servers. */
  readonly pid: number | undefined;
  /** Host path of the instance directory; undefined for external servers. */
  readonly dataDir: string | undefined;
  /** Host path of Synapse's stdout/stderr log; undefined for external servers. */
  readonly logFile: string | undefined;
  /** Register a user via the shared-secret admin API, see {@link registerWithSharedSecret}. */
  registerUser(localpart: string, password: string, opts?: { admin?: boolean; displayName?: string }): Promise<RegisteredUser>;
  /** SIGTERM, SIGKILL after 5 s, then delete the data dir unless kept. Idempotent. */
  stop(): Promise<void>;
}

/** Every Synapse we started and have not stopped, with the data to drop if Node exits first. */
const live = new Map<ChildProcess, string | undefined>();

/** Node exits without awaiting stop(): kill synchronously so Synapse never outlives us. */
function onProcessExit(): void {
  for (const [child, removable] of live) {
    child.kill("SIGKILL");
    if (removable) rmSync(removable, { recursive: true, force: true });
  }
}

function forget(child: ChildProcess): void {
  live.delete(child);
  if (live.size === 0) process.off("exit", onProcessExit);
}

/**
 * Start a fresh Synapse and wait until `/_matrix/client/versions` answers.
 * Takes about 2 s; nearly all of it is Python importing Synapse.
 *
 * @throws On timeout or early exit, with the tail of Synapse's log (no secrets).
 */
export async function startDevHomeserver(opts: DevHomeserverOptions = {}): Promise<DevHomeserver> {
  const progress = opts.onProgress ?? (() => {});
  opts.signal?.throwIfAborted();
  assertRoot("Running Synapse in its chroot");
  const rootfs = await realpath(await ensureSynapseRootfs({ cacheDir: opts.cacheDir, onProgress: progress }));
  const instancesDir = join(rootfs, "srv", "niobot");
  await mkdir(instancesDir, { recursive: true });
  await sweepStale(instancesDir);

  const id = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const dataDir = resolve(opts.dataDir ?? join(instancesDir, opts.keepData ? `kept-${id}` : id));
  const preexisting = (await readdir(dataDir).catch(() => [])).length > 0;
  await mkdir(dataDir, { recursive: true });
  const removeOnStop = !opts.keepData && !preexisting;
  // Synapse sees paths inside the chroot; outside dirs get bind-mounted at mnt-<id>.
  const rel = relative(rootfs, await realpath(dataDir));
  const mountPoint = rel.startsWith("..") || isAbsolute(rel) ? join(instancesDir, `mnt-${id}`) : undefined;
  const inner = mountPoint ? `/srv/niobot/mnt-${id}` : `/${rel}`;
  if (mountPoint) await mkdir(mountPoint);

  const serverName = opts.serverName ?? "localhost";
  const secrets = await loadOrCreateSecrets(dataDir);
  const logFile = join(dataDir, "homeserver.log");
  const cleanup = async (): Promise<void> => {
    if (mountPoint) await rmdir(mountPoint).catch(() => {});
    if (removeOnStop) await rm(dataDir, { recursive: true, force: true });
  };
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const baseUrl = `http://127.0.0.1:${port}`;
    await writeConfig(dataDir, inner, port, serverName, secrets, opts);
    progress(`Starting Synapse for ${serverName} on ${baseUrl}`);
    const started = Date.now();
    // Only this attempt's log lines count (a kept dataDir appends to an old log).
    const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
    const argv = ["python3", "-m", "synapse.app.homeserver", "--config-path", `${inner}/homeserver.yaml`];
    const bindMount = mountPoint ? { source: dataDir, target: mountPoint } : undefined;
    const child = spawnInRootfs(rootfs, argv, { logFile, bindMount });
    if (live.size === 0) process.on("exit", onProcessExit); // removed again when idle
    live.set(child, removeOnStop ? dataDir : undefined);
    try {
      await waitReady(child, baseUrl, secrets.keyId, logFile, logStart, opts.startTimeoutMs ?? 60_000, opts.signal);
    } catch (err) {
      await terminate(child);
      forget(child);
      const portTaken = (await tail(logFile, logStart)).includes("Address already in use");
      if (portTaken && opts.port === undefined && attempt < 3) continue;
      await cleanup();
      throw err;
    }
    progress(`Synapse ready on ${baseUrl} after ${Date.now() - started} ms`);

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= terminate(child).then(() => forget(child)).then(cleanup));
    opts.signal?.addEventListener("abort", () => void stop(), { once: true });
    return {
      baseUrl, serverName, registrationSecret: secrets.registration, pid: child.pid, dataDir, logFile, stop,
      registerUser: (localpart, password, o) =>
        registerWithSharedSecret(baseUrl, secrets.registration, localpart, password, o),
    };
  }
}

type Secrets = { registration: string; macaroon: string; form: string };

/** Reuse secrets and signing key of a kept dataDir, so old tokens and events stay valid. */
async function loadOrCreateSecrets(dataDir: string): Promise<Secrets & { keyId: string }> {
  const file = join(dataDir, "niobot-secrets.json");
  let secrets: Secrets;
  try {
    secrets = JSON.parse(await readFile(file, "utf8")) as Secrets;
  } catch {
    const hex = (): string => randomBytes(24).toString("hex");
    secrets = { registration: hex(), macaroon: hex(), form: hex() };
    await writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
  }
  const keyFile = join(dataDir, "signing.key");
  if (!existsSync(keyFile)) {
    // Same format as synapse._scripts.generate_signing_key ("ed25519 a_XXXX <unpadded
    // base64 seed>"), minus the ~0.5 s Python startup: any 32 random bytes are a seed.
    const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const version = Array.from(randomBytes(4), (b) => letters[b % letters.length]).join("");
    const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
    await writeFile(keyFile, `ed25519 a_${version} ${seed}\n`, { mode: 0o600 });
  }
  return { ...secrets, keyId: `ed25519:${(await readFile(keyFile, "utf8")).split(" ")[1]}` };
}

const LOTS = { per_second: 100_000, burst_count: 100_000 };
/** Every rc_* knob Synapse 1.160 reads, opened wide so test suites never see 429. */
const RELAXED_RATE_LIMITS = {
  rc_message: LOTS, rc_registration: LOTS, rc_registration_token_validity: LOTS,
  rc_login: { address: LOTS, account: LOTS, failed_attempts: LOTS },
  rc_admin_redaction: LOTS, rc_joins: { local: LOTS, remote: LOTS }, rc_joins_per_room: LOTS,
  rc_3pid_validation: LOTS, rc_invites: { per_room: LOTS, per_user: LOTS, per_issuer: LOTS },
  rc_third_party_invite: LOTS, rc_media_create: LOTS, rc_presence: { per_user: LOTS },
  rc_delayed_event_mgmt: LOTS, rc_room_creation: LOTS, rc_reports: LOTS, rc_user_directory: LOTS,
  rc_key_requests: LOTS,
};

/**
 * Write homeserver.yaml ourselves instead of `--generate-config` (2.7 s).
 * JSON is valid YAML, which spares us any quoting concerns.
 */
async function writeConfig(
  dataDir: string, inner: string, port: number, serverName: string, s: Secrets, opts: DevHomeserverOptions,
): Promise<void> {
  const appservices: string[] = [];
  for (const [i, as] of (opts.appservices ?? []).entries()) {
    const text = as.yaml ?? (as.path !== undefined ? await readFile(as.path, "utf8") : undefined);
    if (text === undefined) throw new Error("an appservice needs a path or its yaml");
    await writeFile(join(dataDir, `appservice-${i}.yaml`), text, { mode: 0o600 });
    appservices.push(`${inner}/appservice-${i}.yaml`);
  }
  const config = {
    server_name: serverName,
    ...(appservices.length > 0 ? { app_service_config_files: appservices } : {}),
    ...(opts.appserviceEncryption ? { experimental_features: { msc2409_to_device_messages_enabled: true, msc3202_transaction_extensions: true } } : {}),
    public_baseurl: `http://127.0.0.1:${port}/`,
    listeners: [{
      port, bind_addresses: ["127.0.0.1"], type: "http", tls: false, x_forwarded: false,
      // client includes /_synapse/admin and media; keys lets waitReady() check identity.
      resources: [{ names: ["client", "keys"], compress: false }],
    }],
    database: { name: "sqlite3", args: { database: `${inner}/homeserver.db` } },
    log_config: `${inner}/log.yaml`,
    media_store_path: `${inner}/media_store`,
    signing_key_path: `${inner}/signing.key`,
    registration_shared_secret: s.registration, macaroon_secret_key: s.macaroon, form_secret: s.form,
    trusted_key_servers: [], // no federation: never contact matrix.org
    suppress_key_server_warning: true, report_stats: false, enable_metrics: false,
    enable_registration: false, url_preview_enabled: false, enable_authenticated_media: opts.authenticatedMedia ?? true,
    max_upload_size: opts.maxUploadSize ?? "50M",
    ...(opts.tokenLifetimes?.refreshableAccessToken ? { refreshable_access_token_lifetime: opts.tokenLifetimes.refreshableAccessToken } : {}),
    ...(opts.tokenLifetimes?.refreshToken ? { refresh_token_lifetime: opts.tokenLifetimes.refreshToken } : {}),
    presence: { enabled: true },
    bcrypt_rounds: 4, // default 12 costs ~0.25 s per registration/login
    ...(opts.rateLimits === undefined || opts.rateLimits === "relaxed" ? RELAXED_RATE_LIMITS
      : opts.rateLimits === "default" ? {} : opts.rateLimits),
  };
  // Log to stderr, which we point at homeserver.log: tracebacks from before
  // logging is configured then land in the same file.
  const logConfig = {
    version: 1, disable_existing_loggers: false, root: { level: "INFO", handlers: ["console"] },
    formatters: { precise: { format: "%(asctime)s - %(name)s - %(levelname)s - %(request)s - %(message)s" } },
    handlers: { console: { class: "logging.StreamHandler", formatter: "precise", stream: "ext://sys.stderr" } },
  };
  await writeFile(join(dataDir, "homeserver.yaml"), JSON.stringify(config, null, 2), { mode: 0o600 });
  await writeFile(join(dataDir, "log.yaml"), JSON.stringify(logConfig, null, 2));
}

async function waitReady(
  child: ChildProcess, baseUrl: string, keyId: string, logFile: string, logStart: number,
  timeoutMs: number, signal: AbortSignal | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  const fail = async (why: string): Promise<Error> =>
    new Error(`${why}. Log ${logFile}:\n${await tail(logFile, logStart)}`);
  for (;;) {
    signal?.throwIfAborted();
    if (spawnError) throw new Error(`Cannot start Synapse: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw await fail(`Synapse exited (${child.signalCode ?? `code ${child.exitCode}`}) during startup`);
    }
    if (Date.now() > deadline) throw await fail(`Synapse not ready on ${baseUrl} after ${timeoutMs} ms`);
    const versions = `${baseUrl}/_matrix/client/versions`;
    const res = await fetch(versions, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    // Something else may be serving this port (our Synapse then dies with EADDRINUSE
    // and we retry): only our own signing key proves the answer came from our process.
    if (res?.ok && (await ownsPort(baseUrl, keyId))) return;
    await sleep(50);
  }
}

async function ownsPort(baseUrl: string, keyId: string): Promise<boolean> {
  const res = await fetch(`${baseUrl}/_matrix/key/v2/server`).catch(() => undefined);
  const body = (await res?.json().catch(() => undefined)) as { verify_keys?: object } | undefined;
  return body?.verify_keys !== undefined && keyId in body.verify_keys;
}

async function tail(file: string, fromByte: number, lines = 30): Promise<string> {
  const text = (await readFile(file).catch(() => Buffer.alloc(0))).subarray(fromByte).toString("utf8");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** SIGTERM (Synapse shuts down cleanly in well under a second), SIGKILL after 5 s. */
async function terminate(child: ChildProcess): Promise<void> {
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  if (exited() || child.pid === undefined) return;
  const gone = new Promise<void>((res) => child.once("exit", () => res()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await gone;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

/**
 * Remove leftovers of dead Node processes (SIGKILLed test runners): instance
 * dirs are named `<pid>-<hex>`, mount points `mnt-<pid>-<hex>`. Mount points
 * of live owners are never touched: rmdir would detach their bind mount.
 */
async function sweepStale(instancesDir: string): Promise<void> {
  for (const name of await readdir(instancesDir)) {
    const m = /^(mnt-)?(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || isAlive(Number(m[2]))) continue;
    const path = join(instancesDir, name);
    // Never recursive on a mount point: it must not take a bind mount's contents along.
    if (m[1]) await rmdir(path).catch(() => {});
    else await rm(path, { recursive: true, force: true });
  }
}
