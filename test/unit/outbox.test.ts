/**
 * The outbox with a recording transport: per-room order under concurrency, 429 waits that hold
 * only their own room, fail-closed encryption, transaction ids and the sent hooks.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { EncryptionContent } from "../../src/api/events.js";
import { EncryptionRequiredError } from "../../src/crypto/errors.js";
import { deterministicTxnId, SendSequence } from "../../src/delivery/txn.js";
import { silentLogger } from "../../src/logging/logger.js";
import { Outbox, type OutboxEncrypter, type SentEvent } from "../../src/outbox/outbox.js";
import { fakeTransport, gate, type Recorded, type Script } from "../helpers/fake-transport.js";

const A = "!a:x.org";
const B = "!b:x.org";
const MEGOLM: EncryptionContent = { algorithm: "m.megolm.v1.aes-sha2" };

function outbox(script: Script, options: { encrypted?: Set<string>; encrypter?: OutboxEncrypter } = {}): { outbox: Outbox; requests: Recorded[] } {
  const { fetch, requests } = fakeTransport(script);
  const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger, initialBackoffMs: 1 });
  const box = new Outbox({
    api: () => api,
    roomEncryption: async (roomId) => (options.encrypted?.has(roomId) ? MEGOLM : undefined),
    encrypter: () => options.encrypter,
  });
  return { outbox: box, requests };
}

/** `/rooms/{room}/send/{type}/{txn}` → its parts. */
function parts(request: Recorded): { room: string; type: string; txn: string } {
  const m = /\/rooms\/([^/]+)\/(?:send\/([^/]+)|redact\/[^/]+)\/([^/]+)$/.exec(request.path);
  assert.ok(m, request.path);
  return { room: m[1] ?? "", type: m[2] ?? "redact", txn: m[3] ?? "" };
}

const n = (request: Recorded): unknown => (request.body as { n?: unknown }).n;

describe("Outbox", () => {
  test("a host's answer without waiting: undefined sends plain at once, null asks roomEncryption, settings encrypt (fail closed)", async () => {
    const { fetch, requests } = fakeTransport(() => ({ body: { event_id: "$x" } }));
    const api = new MatrixApi({ baseUrl: "http://hs.test", accessToken: "tok", fetch, logger: silentLogger, initialBackoffMs: 1 });
    const asked: string[] = [];
    const now = new Map<string, EncryptionContent | undefined | null>([[A, undefined], [B, null], ["!c:x.org", MEGOLM]]);
    const box = new Outbox({
      api: () => api,
      roomEncryption: async (roomId) => (asked.push(roomId), roomId === A ? undefined : MEGOLM),
      roomEncryptionNow: (roomId) => (now.has(roomId) ? now.get(roomId) : null),
      encrypter: () => undefined,
    });
    await box.send(A, "m.room.message", { n: 1 });
    assert.deepEqual(asked, []);
    assert.equal(parts(requests[0]!).type, "m.room.message");
    // In doubt (null), the full check decides: here encrypted, and without an encrypter nothing goes out.
    await assert.rejects(box.send(B, "m.room.message", { n: 2 }), EncryptionRequiredError);
    await assert.rejects(box.send("!c:x.org", "m.room.message", { n: 3 }), EncryptionRequiredError);
    assert.deepEqual(asked, [B, "!c:x.org"]);
    assert.equal(requests.length, 1);
  });

  test("one room's sends go out one at a time in call order; other rooms do not wait", async () => {
    const firstA = gate();
    let id = 0;
    const { outbox: box, requests } = outbox(async (request) => {
      if (parts(request).room === A && n(request) === 0) await firstA.promise;
      return { body: { event_id: `$${++id}` } };
    });
    const sendsA = [0, 1, 2, 3, 4].map((i) => box.send(A, "m.room.message", { n: i }));
    // Room B is answered while A's first request is still open.
    assert.match(await box.send(B, "m.room.message", { n: "b" }), /^\$/);
    assert.deepEqual(requests.map((r) => [parts(r).room, n(r)]), [[A, 0], [B, "b"]]);
    firstA.open();
    const ids = await Promise.all(sendsA);
    assert.equal(new Set(ids).size, 5);
    assert.deepEqual(requests.filter((r) => parts(r).room === A).map(n), [0, 1, 2, 3, 4]);
  });

  test("a 429 is waited out (retry_after_ms) and repeated with the same transaction id, holding only its room", async () => {
    let limited = 0;
    const { outbox: box, requests } = outbox((request) => {
      // A's second message is rate-limited twice; B's sends are not.
      if (parts(request).room === A && n(request) === 1 && limited < 2) {
        limited++;
        return { status: 429, body: { errcode: "M_LIMIT_EXCEEDED", error: "slow down", retry_after_ms: 5 } };
      }
      return { body: { event_id: `$${parts(request).room}${String(n(request))}` } };
    });
    const sends = [
      ...[0, 1, 2, 3].map((i) => box.send(A, "m.room.message", { n: i })),
      ...[0, 1, 2].map((i) => box.send(B, "m.room.message", { n: i })),
    ];
    const ids = await Promise.all(sends);
    assert.deepEqual(ids, [`$${A}0`, `$${A}1`, `$${A}2`, `$${A}3`, `$${B}0`, `$${B}1`, `$${B}2`]);
    const inA = requests.filter((r) => parts(r).room === A);
    // A's order holds across the waits: 0, 1 (429), 1 (429), 1, 2, 3; nothing overtook the limited send.
    assert.deepEqual(inA.map(n), [0, 1, 1, 1, 2, 3]);
    const txns = inA.map((r) => parts(r).txn);
    assert.equal(new Set(txns.slice(1, 4)).size, 1, "the repeats of a send keep its transaction id");
    assert.equal(new Set(txns).size, 4, "different sends have different transaction ids");
    assert.deepEqual(requests.filter((r) => parts(r).room === B).map(n), [0, 1, 2]);
  });

  test("a send that fails does not stop the sends queued behind it", async () => {
    const { outbox: box, requests } = outbox((request) =>
      n(request) === 1 ? { status: 403, body: { errcode: "M_FORBIDDEN", error: "no" } } : { body: { event_id: `$${String(n(request))}` } },
    );
    const results = await Promise.allSettled([0, 1, 2].map((i) => box.send(A, "m.room.message", { n: i })));
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.deepEqual(requests.map(n), [0, 1, 2]);
  });

  test("redactions wait in the room's queue behind earlier sends", async () => {
    const first = gate();
    const { outbox: box, requests } = outbox(async (request) => {
      if (n(request) === 0) await first.promise;
      return { body: { event_id: "$x" } };
    });
    const send = box.send(A, "m.room.message", { n: 0 });
    const redaction = box.redact(A, "$old", "spam");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(requests.length, 1, "the redaction did not overtake the pending send");
    first.open();
    await Promise.all([send, redaction]);
    assert.deepEqual(requests.map((r) => parts(r).type), ["m.room.message", "redact"]);
    assert.deepEqual(requests[1]?.body, { reason: "spam" });
  });

  test("the sent hook hears each accepted event as meant (before encryption); failures are not reported", async () => {
    const encrypter: OutboxEncrypter = { encrypt: async (_room, type, content) => ({ algorithm: "m.megolm.v1.aes-sha2", ciphertext: JSON.stringify({ type, content }) }) };
    const { outbox: box, requests } = outbox(
      (request) => (n(request) === "bad" ? { status: 400, body: { errcode: "M_BAD_JSON", error: "bad" } } : { body: { event_id: `$${requests.length}` } }),
      { encrypted: new Set([A]), encrypter },
    );
    const seen: SentEvent[] = [];
    const started: string[] = [];
    const off = box.onSend((roomId) => {
      started.push(roomId);
      return (sent) => seen.push(sent);
    });
    await box.send(A, "m.room.message", { n: 1 });
    await assert.rejects(box.send(B, "m.room.message", { n: "bad" }));
    await box.redact(B, "$e");
    off();
    await box.send(B, "m.room.message", { n: 2 });
    assert.deepEqual(started, [A, B, B]);
    assert.deepEqual(seen, [
      { roomId: A, eventId: "$1", type: "m.room.message", content: { n: 1 } },
      { roomId: B, eventId: "$3", type: "m.room.redaction", content: { redacts: "$e" } },
    ]);
    // The encrypted room got ciphertext; the plaintext room got the content as is.
    assert.equal(parts(requests[0] as Recorded).type, "m.room.encrypted");
    assert.deepEqual(requests[3]?.body, { n: 2 });
  });

  test("an encrypted room without an encrypter is refused before any request (fail closed)", async () => {
    const { outbox: box, requests } = outbox(() => ({ body: { event_id: "$x" } }), { encrypted: new Set([A]) });
    await assert.rejects(box.send(A, "m.room.message", { body: "secret" }), EncryptionRequiredError);
    assert.equal(requests.length, 0);
  });

  test("inside a command context's sequence the transaction ids derive from the invoking event", async () => {
    const { outbox: box, requests } = outbox(() => ({ body: { event_id: "$x" } }));
    const sequence = new SendSequence("$cmd:x.org");
    await sequence.run(() => box.send(A, "m.room.message", { n: 0 }));
    await sequence.run(async () => {
      await box.send(A, "m.reaction", { n: 1 });
      await box.redact(A, "$x");
    });
    await box.send(A, "m.room.message", { n: 2 });
    const txns = requests.map((r) => parts(r).txn);
    assert.deepEqual(txns.slice(0, 3), [deterministicTxnId("$cmd:x.org", [0]), deterministicTxnId("$cmd:x.org", [1]), deterministicTxnId("$cmd:x.org", [1, 1])]);
    assert.ok(!txns[3]?.startsWith("nbe"), "outside a context the id is fresh");
  });
});
