/** Privileged checks and the sending device's trust (issue 13, section 3), without a server. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { check, isOwner, runChecks, senderDeviceTrusted, senderHasPower } from "../../src/commands/checks.js";
import type { CommandContext } from "../../src/commands/context.js";
import { CheckFailure, UntrustedDevice } from "../../src/commands/errors.js";
import { DECRYPTED_KEY } from "../../src/crypto/events.js";

function ctx(encrypted: boolean, info: Record<string, unknown> | undefined): CommandContext {
  const message = { sender: "@owner:hs", unsigned: info ? { [DECRYPTED_KEY]: info } : {} };
  const room = { isEncrypted: encrypted, powerLevels: { users: { "@owner:hs": 100 } }, create: { sender: "@x:hs" } };
  return { room, message, sender: "@owner:hs", bot: { options: { ownerId: "@owner:hs" } } } as unknown as CommandContext;
}

const signed = { senderCrossSigned: true };
const unsigned = { senderCrossSigned: false };

describe("privileged checks", () => {
  test("the sending device's trust: plaintext rooms need none; encrypted rooms need a decrypted event from a cross-signed device", () => {
    assert.equal(senderDeviceTrusted(ctx(false, undefined)), true);
    assert.equal(senderDeviceTrusted(ctx(true, signed)), true);
    assert.equal(senderDeviceTrusted(ctx(true, unsigned)), false);
    assert.equal(senderDeviceTrusted(ctx(true, undefined)), false, "a plaintext event in an encrypted room proves no device");
  });

  test("owner and power-level checks refuse an unsigned device in an encrypted room, with UntrustedDevice", async () => {
    for (const c of [isOwner(), senderHasPower(50)]) {
      await runChecks(ctx(true, signed), [c]);
      await runChecks(ctx(false, undefined), [c]);
      await assert.rejects(runChecks(ctx(true, unsigned), [c]), (e) => e instanceof UntrustedDevice && e.check === c.name);
    }
  });

  test("custom checks opt in; others do not care about devices", async () => {
    const plain = check("plain", () => true);
    const privileged = check("admin", () => true, { privileged: true });
    await runChecks(ctx(true, unsigned), [plain]);
    await assert.rejects(runChecks(ctx(true, unsigned), [privileged]), (e) => e instanceof CheckFailure && e.check === "admin");
  });
});
