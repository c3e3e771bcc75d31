/**
 * `niobot init`'s default niobot dependency: where this copy came from, read
 * from the installing project's hidden lockfile.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { niobotSourceSpec } from "../../src/cli/source.js";

const root = mkdtempSync(join(tmpdir(), "niobot-source-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A project whose node_modules/.package-lock.json records niobot as `resolved`. */
function installed(name: string, resolved: string | undefined, nested = ""): string {
  const prefix = join(root, name);
  const pkgDir = join(prefix, "node_modules", ...(nested ? [nested, "node_modules"] : []), "niobot");
  mkdirSync(pkgDir, { recursive: true });
  const key = `node_modules/${nested ? `${nested}/node_modules/` : ""}niobot`;
  writeFileSync(join(prefix, "node_modules", ".package-lock.json"), JSON.stringify({ packages: { [key]: resolved === undefined ? { version: "1.2.3" } : { version: "1.2.3", resolved } } }));
  return pkgDir;
}

test("a checkout depends on itself by path", () => {
  assert.equal(niobotSourceSpec("1.2.3", "/home/me/src/niobot"), "file:/home/me/src/niobot");
});

test("from the registry (any registry): a caret range on the version", () => {
  assert.equal(niobotSourceSpec("1.2.3", installed("reg", "https://registry.npmjs.org/niobot/-/niobot-1.2.3.tgz")), "^1.2.3");
  assert.equal(niobotSourceSpec("1.2.3", installed("corp", "https://npm.example.org/repo/niobot/-/niobot-1.2.3.tgz")), "^1.2.3");
});

test("from a git URL: that URL, commit included", () => {
  const url = "git+ssh://git@example.org/me/niobot.git#0123456789abcdef0123456789abcdef01234567";
  assert.equal(niobotSourceSpec("1.2.3", installed("git", url)), url);
});

test("from a tarball: its absolute path, also for a nested install", () => {
  assert.equal(niobotSourceSpec("1.2.3", installed("tgz", "file:../niobot-1.2.3.tgz")), `file:${join(root, "niobot-1.2.3.tgz")}`);
  assert.equal(niobotSourceSpec("1.2.3", installed("nested", "file:vendor/niobot-1.2.3.tgz", "tool")), `file:${join(root, "nested", "vendor", "niobot-1.2.3.tgz")}`);
});

test("no lockfile, no entry, or an unreadable lockfile: the version range", () => {
  assert.equal(niobotSourceSpec("1.2.3", installed("noresolved", undefined)), "^1.2.3");
  const dir = join(root, "nolock", "node_modules", "niobot");
  mkdirSync(dir, { recursive: true });
  assert.equal(niobotSourceSpec("1.2.3", dir), "^1.2.3");
  writeFileSync(join(root, "nolock", "node_modules", ".package-lock.json"), "{ not json");
  assert.equal(niobotSourceSpec("1.2.3", dir), "^1.2.3");
});
