/**
 * Where this copy of niobot came from, so `niobot init` can make the new
 * project depend on the same thing: a git URL or a tarball is not on the npm
 * registry, and `^<version>` would not install.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The root folder of this niobot package (`src/cli` and `dist/cli` are two levels below it). */
export function ownPackageRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url)).replace(/[\\/]+$/, "");
}

/**
 * The dependency spec for niobot in a new project:
 * - installed from the registry: `^<version>`;
 * - installed from a git URL or a tarball: that URL or the tarball's absolute `file:` path,
 *   read from the installing project's lockfile (`node_modules/.package-lock.json`, also kept by `npx`);
 * - a checkout (not inside `node_modules`): `file:<checkout>`.
 */
export function niobotSourceSpec(version: string, root = ownPackageRoot()): string {
  const parts = root.split(sep);
  if (!parts.includes("node_modules")) return `file:${root}`;
  // The innermost project that recorded this folder in its lockfile installed it (nested installs sit deeper).
  for (let at = parts.lastIndexOf("node_modules"); at >= 0; at = parts.lastIndexOf("node_modules", at - 1)) {
    const prefix = parts.slice(0, at).join(sep) || sep;
    const entry = lockEntry(prefix, relative(prefix, root).split(sep).join("/"));
    if (entry !== undefined) return specFor(entry.resolved, prefix, version);
    if (at === 0) break;
  }
  return `^${version}`;
}

function lockEntry(prefix: string, key: string): { resolved?: unknown } | undefined {
  const lockfile = join(prefix, "node_modules", ".package-lock.json");
  if (!existsSync(lockfile)) return undefined;
  try {
    const lock = JSON.parse(readFileSync(lockfile, "utf8")) as { packages?: Record<string, { resolved?: unknown }> };
    return lock.packages?.[key];
  } catch {
    return undefined;
  }
}

function specFor(resolved: unknown, prefix: string, version: string): string {
  // A registry tarball (".../niobot/-/niobot-1.2.3.tgz", any registry) means the registry has it.
  if (typeof resolved !== "string" || /\/-\/[^/]+\.tgz$/.test(resolved)) return `^${version}`;
  if (resolved.startsWith("file:")) {
    const path = resolved.slice("file:".length);
    return `file:${isAbsolute(path) ? path : resolve(prefix, path)}`;
  }
  if (/^(git\+|git:|github:|gitlab:|bitbucket:)/.test(resolved)) return resolved;
  // A tarball URL elsewhere: npm understands what it wrote.
  return /^https?:/.test(resolved) ? resolved : `^${version}`;
}
