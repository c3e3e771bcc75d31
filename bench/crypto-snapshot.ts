/**
 * `tsx bench/crypto-snapshot.ts`: what one crypto store save costs when the
 * store holds many room keys (issue 11, finding 19). Any to-device message
 * makes the machine write, and the next save must persist it before the sync
 * token that depends on it.
 *
 * Real room keys are made by the wasm machine (`BENCH_SNAPSHOT_REAL`, default
 * 500, ~11 ms each); their records are then copied under new keys up to
 * `BENCH_SNAPSHOT_KEYS` (default 10 000), since a save's cost depends on the
 * number and size of records, not on whether each copy would decrypt.
 * Then a small write (what a to-device message does) is followed by a save,
 * several times; prints the average.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceId, EncryptionSettings, initAsync, OlmMachine, RoomId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { databasesWithPrefix, exportDatabases, importDatabases } from "../src/crypto/idb-snapshot.js";
import { cryptoIndexedDB } from "../src/crypto/indexeddb.js";
import { CryptoStoreFile } from "../src/crypto/store.js";

const KEYS = Number(process.env.BENCH_SNAPSHOT_KEYS ?? 10_000);
const REAL = Math.min(KEYS, Number(process.env.BENCH_SNAPSHOT_REAL ?? 500));
const SAVES = 10;

await initAsync();
const dir = mkdtempSync(join(tmpdir(), "niobot-bench-snapshot-"));
try {
  const path = join(dir, "bot.crypto");
  const file = new CryptoStoreFile(path);
  await file.open();
  file.setOwner("@bot:localhost", "BENCHDEV");
  const seed = await OlmMachine.initialize(new UserId("@bot:localhost"), new DeviceId("BENCHDEV"), file.storeName);
  for (let i = 0; i < REAL; i++) await seed.shareRoomKey(new RoomId(`!room${i}:localhost`), [], new EncryptionSettings());
  seed.close();

  // Copy the inbound room key records under new keys up to KEYS, into a fresh store.
  const { factory } = cryptoIndexedDB();
  const snapshot = await exportDatabases(factory, await databasesWithPrefix(factory, file.storeName));
  let total = 0;
  for (const db of snapshot)
    for (const store of db.stores) {
      if (!store.name.startsWith("inbound_group_sessions")) continue;
      const real = store.records.slice();
      for (let i = real.length; i < KEYS; i++) {
        const source = real[i % real.length];
        if (!source) break;
        store.records.push({ key: `${String(source.key)}-copy${i}`, value: source.value });
      }
      total += store.records.length;
    }
  await file.close();
  const bench = new CryptoStoreFile(path);
  await bench.open();
  await importDatabases(factory, snapshot, (name) => bench.storeName + name.slice(file.storeName.length));
  bench.setOwner("@bot:localhost", "BENCHDEV");
  const machine = await OlmMachine.initialize(new UserId("@bot:localhost"), new DeviceId("BENCHDEV"), bench.storeName);
  const f0 = performance.now();
  await bench.save();
  const firstSave = performance.now() - f0;

  let wall = 0;
  let cpu = 0;
  for (let i = 0; i < SAVES; i++) {
    // A small machine write, as a to-device message causes (here: one more outbound room key).
    await machine.shareRoomKey(new RoomId(`!extra${i}:localhost`), [], new EncryptionSettings());
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await bench.save();
    const c = process.cpuUsage(c0);
    wall += performance.now() - t0;
    cpu += (c.user + c.system) / 1000;
  }
  console.log(`crypto store save with ${total} room keys (${REAL} real, the rest copies)`);
  console.log(`  store on disk: ${(statSync(path).size / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`  first save (the whole store): ${firstSave.toFixed(1)} ms wall`);
  console.log(`  one save after a small write: ${(wall / SAVES).toFixed(1)} ms wall, ${(cpu / SAVES).toFixed(1)} ms CPU (average of ${SAVES})`);
  machine.close();
  await bench.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
