/**
 * Verification plumbing without a server: which events take part in a
 * verification, which to-device senders are looked at, and hostile in-room
 * verification events fed to a real (in-memory) crypto machine.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DeviceId, initAsync, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { MatrixApi } from "../../src/api/client.js";
import type { ClientEvent } from "../../src/api/events.js";
import { RequestPump } from "../../src/crypto/requests.js";
import { isVerificationEvent, Verifications, verificationSenders } from "../../src/crypto/verifications.js";
import { silentLogger } from "../../src/logging/logger.js";

describe("verification events", () => {
  test("in-room: the request message and the m.key.verification.* events, nothing else", () => {
    assert.equal(isVerificationEvent({ type: "m.room.message", content: { msgtype: "m.key.verification.request" } }), true);
    assert.equal(isVerificationEvent({ type: "m.key.verification.start", content: {} }), true);
    assert.equal(isVerificationEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "m.key.verification.request" } }), false);
    assert.equal(isVerificationEvent({ type: "m.room.encrypted", content: {} }), false);
  });

  test("to-device: senders of verification messages; junk, other types and non-string senders ignored", () => {
    const senders = verificationSenders([
      { rawEvent: JSON.stringify({ type: "m.key.verification.request", sender: "@a:hs", content: {} }) },
      { rawEvent: JSON.stringify({ type: "m.key.verification.cancel", sender: "@b:hs", content: {} }) },
      { rawEvent: JSON.stringify({ type: "m.room_key", sender: "@c:hs", content: {} }) },
      { rawEvent: JSON.stringify({ type: "m.key.verification.request", sender: 42 }) },
      { rawEvent: "{not json" },
      {},
    ]);
    assert.deepEqual([...senders].sort(), ["@a:hs", "@b:hs"]);
  });
});

describe("hostile in-room verification events", () => {
  test("malformed or misaddressed events start nothing and never throw", async () => {
    await initAsync();
    const machine = await OlmMachine.initialize(new UserId("@bot:hs"), new DeviceId("BOTDEVICE"));
    // Nothing listens on this port: whatever the machine wants sent fails and is logged, as with a server down.
    const pump = new RequestPump(machine, new MatrixApi({ baseUrl: "http://127.0.0.1:9", maxTransientRetries: 0 }), silentLogger);
    const tracked: Promise<void>[] = [];
    const verifications = new Verifications({
      machine,
      pump,
      log: silentLogger,
      save: async () => undefined,
      listening: () => true,
      present: async () => undefined,
      autoVerify: new Set(),
      track: (work) => void tracked.push(work.catch(() => undefined)),
    });
    const base = { room_id: "!r:hs", origin_server_ts: Date.now(), unsigned: {} };
    const events: ClientEvent[] = [
      { ...base, event_id: "$1", sender: "@eve:hs", type: "m.room.message", content: { msgtype: "m.key.verification.request" } },
      { ...base, event_id: "$2", sender: "@eve:hs", type: "m.room.message", content: { msgtype: "m.key.verification.request", to: "@someone-else:hs", from_device: "D", methods: ["m.sas.v1"] } },
      { ...base, event_id: "$3", sender: "@eve:hs", type: "m.key.verification.start", content: { "m.relates_to": { rel_type: "m.reference", event_id: "$nothing" } } },
      { ...base, event_id: "$4", sender: "@eve:hs", type: "m.key.verification.key", content: { "m.relates_to": "garbage", key: 7 } },
      { ...base, event_id: "$5", sender: "@eve:hs", type: "m.key.verification.mac", content: { mac: { ["x".repeat(10_000)]: "y" } } },
    ];
    try {
      for (const event of events) await verifications.receiveRoomEvent("!r:hs", event);
      await Promise.all(tracked);
      assert.equal(verifications.active, 0, "no flow started");
    } finally {
      await verifications.close();
      machine.close();
    }
  });
});
