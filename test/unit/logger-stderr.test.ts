/**
 * A logger that writes nothing does not make `process.stderr`: Node builds that stream on first
 * access (milliseconds of start-up over a pipe), and niobot's silent logger is made when the
 * package is imported. Counted: the accesses to `process.stderr`, trapped before the import.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

test("the silent logger and a quiet console logger never touch process.stderr; the first line written does", async () => {
  const descriptor = Object.getOwnPropertyDescriptor(process, "stderr")!;
  let accesses = 0;
  Object.defineProperty(process, "stderr", { ...descriptor, get() { accesses++; return descriptor.get!.call(process); } });
  const lines: string[] = [];
  const realWrite = process.stderr.write;
  accesses = 0;
  try {
    const { consoleLogger, silentLogger } = await import("../../src/logging/logger.js");
    silentLogger.error("dropped");
    const quiet = consoleLogger("warn");
    quiet.info("below the level");
    quiet.debug({ a: 1 }, "below the level");
    assert.equal(accesses, 0, "process.stderr made by a logger that wrote nothing");
    process.stderr.write = ((line: string) => (lines.push(line), true)) as typeof process.stderr.write;
    accesses = 0;
    quiet.warn("written");
    assert.equal(accesses, 1);
    assert.match(lines.join(""), /WARN {2}written\n$/);
  } finally {
    Object.defineProperty(process, "stderr", descriptor);
    process.stderr.write = realWrite;
  }
});
