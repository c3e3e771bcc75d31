/**
 * A Debian unstable root filesystem with Synapse installed, used as a chroot.
 *
 * Synapse is not packaged in Debian stable, and installing it into the host
 * would be invasive, so we bootstrap `sid` with mmdebstrap into a cache dir
 * once (~1 minute) and reuse it for every dev homeserver afterwards.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

/** Options for {@link ensureSynapseRootfs}. */
export interface RootfsOptions {
  /** Cache directory. Default: `$NIOBOT_SYNAPSE_CACHE` or `~/.cache/niobot/synapse`. */
  cacheDir?: string;
  /** Receives human-readable progress lines (including mmdebstrap/apt output). */
  onProgress?: (msg: string) => void;
}

/** Resolve the cache directory the same way everywhere (rootfs, dev homeserver). */
export function defaultSynapseCacheDir(): string {
  return process.env.NIOBOT_SYNAPSE_CACHE ?? join(homedir(), ".cache", "niobot", "synapse");
}

/**
 * True if `rootfs` looks like a finished Synapse root filesystem. We check
 * the python package itself rather than a marker so that a rootfs built by
 * hand with the documented mmdebstrap command is accepted too; builds are
 * renamed into place atomically, so a partial build never passes.
 */
export function isSynapseRootfs(rootfs: string): boolean {
  return (
    existsSync(join(rootfs, "usr/bin/python3")) &&
    existsSync(join(rootfs, "usr/lib/python3/dist-packages/synapse/app/homeserver.py"))
  );
}

/**
 * Throw a helpful error unless we are root. `what` needs root because of
 * mmdebstrap and chroot; the message points at the no-root alternative.
 * @internal
 */
export function assertRoot(what: string): void {
  if (process.getuid?.() === 0) return;
  throw new Error(
    `${what} needs root (mmdebstrap + chroot). Either run as root, or set ` +
      "MATRIX_TEST_HOMESERVER and MATRIX_TEST_REGISTRATION_SECRET to use an existing homeserver.",
  );
}

/** How long a waiting process tolerates another process's build before giving up. */
const LOCK_WAIT_MS = 20 * 60_000;

/**
 * Return the path of a Synapse root filesystem, building it first if needed.
 *
 * Concurrent callers (e.g. parallel test files) are serialised with an
 * exclusive lock file holding the builder's pid; a lock whose pid is dead is
 * treated as stale and removed.
 *
 * @returns Absolute path to `<cacheDir>/rootfs`.
 * @throws If not running as root and no rootfs exists yet, or if the build fails.
 */
export async function ensureSynapseRootfs(opts: RootfsOptions = {}): Promise<string> {
  const cacheDir = resolve(opts.cacheDir ?? defaultSynapseCacheDir());
  const rootfs = join(cacheDir, "rootfs");
  const progress = opts.onProgress ?? (() => {});
  if (isSynapseRootfs(rootfs)) return rootfs;
  assertRoot("Building the Synapse root filesystem");

  await mkdir(cacheDir, { recursive: true });
  const lockPath = join(cacheDir, "rootfs.lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    if (await tryLock(lockPath)) break;
    if (isSynapseRootfs(rootfs)) return rootfs; // the other builder just finished
    if (!announced) progress("Another process is building the Synapse rootfs; waiting for it...");
    announced = true;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for the rootfs build lock ${lockPath}`);
    await sleep(1_000);
  }
  try {
    // The other process may have finished while we waited for the lock.
    if (isSynapseRootfs(rootfs)) return rootfs;
    await build(cacheDir, rootfs, progress);
    return rootfs;
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** Take the lock with O_EXCL; clear it and retry once if its owner is dead. */
async function tryLock(lockPath: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    try {
      const fh = await open(lockPath, "wx");
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
    if (Number.isInteger(owner) ? isAlive(owner) : !(await olderThan(lockPath, 60_000))) {
      // Live owner, or an empty lock that is probably being written right now.
      return false;
    }
    // Two waiters may both clear a stale lock and both end up "owning" it; that is
    // harmless because builds go to per-process temp dirs (see build()).
    await rm(lockPath, { force: true });
  }
  return false;
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > ms;
}

/** True if a process with this pid exists (signal 0 probes without delivering anything). @internal */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function build(cacheDir: string, rootfs: string, progress: (msg: string) => void): Promise<void> {
  if (!onPath("mmdebstrap")) {
    progress("Installing mmdebstrap with apt-get...");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update"], progress, env);
    await run("apt-get", ["install", "-y", "--no-install-recommends", "mmdebstrap"], progress, env);
  }
  // Per-process temp dir: even if two builders slip past the lock they cannot
  // interleave writes. Leftovers of dead builders are removed here.
  for (const name of await readdir(cacheDir)) {
    const pid = /^rootfs\.tmp-(\d+)$/.exec(name)?.[1];
    if (pid !== undefined && (Number(pid) === process.pid || !isAlive(Number(pid)))) {
      await rm(join(cacheDir, name), { recursive: true, force: true });
    }
  }
  const tmp = join(cacheDir, `rootfs.tmp-${process.pid}`);
  progress(`Building Synapse rootfs in ${tmp} (Debian sid, takes about a minute)...`);
  const started = Date.now();
  try {
    await run(
      "mmdebstrap",
      ["--variant=apt", '--aptopt=Acquire::Check-Valid-Until "false"', "--include=matrix-synapse", "sid", tmp],
      progress,
    );
    if (!isSynapseRootfs(tmp)) throw new Error(`mmdebstrap finished but ${tmp} has no Synapse installed`);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  // rename() is atomic, so concurrent readers see either no rootfs or a complete one.
  if (existsSync(rootfs) && !isSynapseRootfs(rootfs)) await rm(rootfs, { recursive: true, force: true });
  try {
    await rename(tmp, rootfs);
  } catch (err) {
    // Someone else's complete rootfs got there first: keep theirs.
    if (!isSynapseRootfs(rootfs)) throw err;
    await rm(tmp, { recursive: true, force: true });
  }
  progress(`Synapse rootfs ready at ${rootfs} (${Math.round((Date.now() - started) / 1000)}s)`);
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((dir) => dir && existsSync(join(dir, cmd)));
}

/** Run a command, streaming each output line to `progress`; reject on non-zero exit. */
function run(cmd: string, args: string[], progress: (msg: string) => void, env = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        progress(line);
      });
    }
    child.on("error", (err) => reject(new Error(`Cannot run ${cmd}: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} failed (${signal ?? `exit ${code}`}):\n${tail.join("\n")}`));
    });
  });
}

/** Options for {@link spawnInRootfs}. */
export interface SpawnInRootfsOptions {
  /** Host file that receives the command's stdout and stderr (appended). */
  logFile: string;
  /** Bind-mount a host dir at `target` (a host path inside the rootfs) for this process only. */
  bindMount?: { source: string; target: string };
}

/**
 * Run `argv` inside the rootfs with chroot(8), output appended to a log file.
 *
 * The bind mount, if any, is made in a private mount namespace
 * (`unshare --mount`): invisible to the host and gone when the process dies,
 * so a crash can never leave mounts behind. `setpriv --pdeathsig KILL` kills
 * the process if Node dies without running exit handlers (e.g. SIGKILL).
 * Every wrapper exec()s, so the returned child's pid is the command's own.
 * @internal
 */
export function spawnInRootfs(rootfs: string, argv: string[], opts: SpawnInRootfsOptions): ChildProcess {
  let full = ["chroot", rootfs, ...argv];
  if (opts.bindMount) {
    const script = 'src=$1; dst=$2; shift 2; mount --bind -- "$src" "$dst" && exec "$@"';
    const { source, target } = opts.bindMount;
    full = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", source, target, ...full];
  }
  if (existsSync("/usr/bin/setpriv")) full = ["/usr/bin/setpriv", "--pdeathsig", "KILL", ...full];
  const fd = openSync(opts.logFile, "a");
  try {
    const [cmd, ...args] = full as [string, ...string[]];
    return spawn(cmd, args, {
      stdio: ["ignore", fd, fd],
      // Clean env: host PYTHONPATH & co. must not leak into the chroot's Python.
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", HOME: "/root" },
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}
