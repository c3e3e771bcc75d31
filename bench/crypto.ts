/**
 * `tsx bench/crypto.ts`: the cost of end-to-end encryption per message, in
 * process and without a homeserver (the network is not what is measured):
 * two wasm crypto machines exchange keys by hand, then one encrypts N
 * messages the way `BotCrypto.encrypt` does once the room key is shared, and
 * the other decrypts them the way the bot does before dispatch (including
 * building the decrypted event). Also the crypto store snapshot: size and
 * save time after N room keys (`bench/crypto-snapshot.ts` measures a save
 * with 10 000 room keys).
 *
 * Prints wall-clock ms and CPU ms per message. `BENCH_CRYPTO_MESSAGES` sets N (default 2000).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CollectStrategy,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionSettings,
  initAsync,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  OlmMachine,
  RoomId,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { decryptedEvent } from "../src/crypto/decrypted.js";
import { CryptoStoreFile } from "../src/crypto/store.js";

const N = Number(process.env.BENCH_CRYPTO_MESSAGES ?? 2000);
const ROOM = "!bench:localhost";
const ALICE = "@alice:localhost";
const BOB = "@bob:localhost";

type Upload = { device_keys: Record<string, unknown>; one_time_keys: Record<string, unknown> };

async function uploadKeys(machine: OlmMachine): Promise<Upload> {
  for (const request of await machine.outgoingRequests()) {
    if (request instanceof KeysUploadRequest) {
      const body = JSON.parse(request.body) as Upload;
      await machine.markRequestAsSent(request.id, request.type, JSON.stringify({ one_time_key_counts: { signed_curve25519: Object.keys(body.one_time_keys ?? {}).length } }));
      return body;
    }
  }
  throw new Error("no key upload");
}

/** Alice learns Bob's device, claims a one-time key, and shares a room key with him. */
async function connect(alice: OlmMachine, bob: OlmMachine, bobKeys: Upload, bobDevice: string): Promise<void> {
  await alice.updateTrackedUsers([new UserId(BOB)]);
  for (const request of await alice.outgoingRequests())
    if (request instanceof KeysQueryRequest)
      await alice.markRequestAsSent(request.id, request.type, JSON.stringify({ device_keys: { [BOB]: { [bobDevice]: bobKeys.device_keys } }, failures: {} }));
  const claim = await alice.getMissingSessions([new UserId(BOB)]);
  if (!(claim instanceof KeysClaimRequest)) throw new Error("expected a key claim");
  const [keyId, key] = Object.entries(bobKeys.one_time_keys)[0] ?? [];
  if (!keyId) throw new Error("bob uploaded no one-time key");
  await alice.markRequestAsSent(claim.id, claim.type, JSON.stringify({ one_time_keys: { [BOB]: { [bobDevice]: { [keyId]: key } } }, failures: {} }));
  const settings = new EncryptionSettings();
  settings.sharingStrategy = CollectStrategy.allDevices();
  settings.rotationPeriodMessages = BigInt(N + 10);
  for (const request of await alice.shareRoomKey(new RoomId(ROOM), [new UserId(BOB)], settings)) {
    const messages = (JSON.parse(request.body) as { messages: Record<string, Record<string, unknown>> }).messages;
    const content = messages[BOB]?.[bobDevice];
    await bob.receiveSyncChanges(JSON.stringify([{ type: request.event_type, sender: ALICE, content }]), new DeviceLists(), new Map(), undefined);
    await alice.markRequestAsSent(request.id, request.type, "{}");
  }
}

function measure<T>(work: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  return work().then((result) => {
    const used = process.cpuUsage(cpu);
    return { result, wallMs: performance.now() - start, cpuMs: (used.user + used.system) / 1000 };
  });
}

await initAsync();
const dir = mkdtempSync(join(tmpdir(), "niobot-bench-crypto-"));
try {
  const bobStore = new CryptoStoreFile(join(dir, "bob.crypto"));
  await bobStore.open();
  bobStore.setOwner(BOB, "BOBDEVICE");
  const alice = await OlmMachine.initialize(new UserId(ALICE), new DeviceId("ALICEDEVICE"));
  const bob = await OlmMachine.initialize(new UserId(BOB), new DeviceId("BOBDEVICE"), bobStore.storeName);
  await uploadKeys(alice);
  const bobKeys = await uploadKeys(bob);
  const share = await measure(() => connect(alice, bob, bobKeys, "BOBDEVICE"));

  const body = JSON.stringify({ msgtype: "m.notice", body: "pong — a typical short bot reply", format: "org.matrix.custom.html", formatted_body: "<b>pong</b>" });
  const room = new RoomId(ROOM);
  const encrypted: string[] = [];
  const enc = await measure(async () => {
    for (let i = 0; i < N; i++) encrypted.push(await alice.encryptRoomEvent(room, "m.room.message", body));
  });

  const settings = new DecryptionSettings(TrustRequirement.Untrusted);
  const dec = await measure(async () => {
    for (let i = 0; i < N; i++) {
      const event = { event_id: `$e${i}`, type: "m.room.encrypted", sender: ALICE, origin_server_ts: Date.now(), room_id: ROOM, content: JSON.parse(encrypted[i] as string) as Record<string, unknown> };
      const out = await bob.decryptRoomEvent(JSON.stringify(event), room, settings);
      decryptedEvent(event, out, undefined);
    }
  });

  // Average of several saves, each after a change (a save without changes writes nothing).
  const SAVES = 10;
  const save = await measure(async () => {
    for (let i = 0; i < SAVES; i++) {
      bobStore.setOwner(BOB, "BOBDEVICE");
      await bobStore.save();
    }
  });
  const size = statSync(join(dir, "bob.crypto")).size;

  const per = (ms: number): string => (ms / N).toFixed(3);
  console.log(`crypto (wasm OlmMachine, ${N} messages, in process)`);
  console.log(`  first room key share (Olm session + m.room_key): ${share.wallMs.toFixed(1)} ms wall, ${share.cpuMs.toFixed(1)} ms CPU`);
  console.log(`  encrypt: ${per(enc.wallMs)} ms/message wall, ${per(enc.cpuMs)} ms/message CPU`);
  console.log(`  decrypt: ${per(dec.wallMs)} ms/message wall, ${per(dec.cpuMs)} ms/message CPU`);
  console.log(`  store snapshot: ${(size / 1024).toFixed(1)} KiB, one save after a change (changed records, one durable SQLite transaction) ${(save.wallMs / SAVES).toFixed(1)} ms wall, ${(save.cpuMs / SAVES).toFixed(1)} ms CPU`);
  alice.close();
  bob.close();
  await bobStore.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
