/**
 * What only the PostgreSQL store does (the shared conformance tests are in
 * storage.test.ts and kv.test.ts): the single-process lock, schemas per bot,
 * versioned migrations, fencing, the crypto snapshot in the database, and
 * riding out a server restart. Against a real, throwaway PostgreSQL cluster.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DeviceId, initAsync, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import postgres from "postgres";
import { cryptoOptionsOf } from "../../src/crypto/index.js";
import { CryptoStoreFile } from "../../src/crypto/store.js";
import { PostgresStore, StoreFencedError } from "../../src/storage/postgres/store.js";
import { MIGRATIONS, SchemaTooNewError } from "../../src/storage/postgres/schema.js";
import { parsePostgresUrl } from "../../src/storage/postgres/url.js";
import { StoreLockedError } from "../../src/storage/sqlite.js";
import { storeFromOptions } from "../../src/storage/select.js";
import { postgresUnavailable, startTestPostgres, type TestPostgres } from "../helpers/postgres.js";

test("store URLs: schema from the parameter or the option, a description without the password, bad schemas refused", () => {
  const t = parsePostgresUrl("postgres://bot:s3cret@db.internal:5433/bots?schema=greeter&sslmode=require");
  assert.equal(t.schema, "greeter");
  assert.equal(t.description, "db.internal:5433/bots (schema greeter)");
  assert.ok(!t.url.includes("schema="), "niobot's own parameter is not passed to the driver");
  assert.ok(t.url.includes("sslmode=require"));
  assert.equal(parsePostgresUrl("postgresql://h/db", "other").schema, "other");
  assert.equal(parsePostgresUrl("postgres://h/db").schema, "niobot");
  assert.throws(() => parsePostgresUrl("postgres://h/db?schema=Robert'); DROP TABLE x;--"), /invalid store schema/);
  assert.throws(() => parsePostgresUrl("postgres://bot:s3cret@[bad/db"), (e: Error) => !e.message.includes("s3cret"));
  assert.throws(() => storeFromOptions({ storeUrl: "mysql://h/db" }), /postgres:\/\//);
  assert.ok(storeFromOptions({ storeUrl: "postgres://h/db" }) instanceof PostgresStore);
  assert.equal(cryptoOptionsOf({ storeUrl: "postgres://h/db" }).enabled, true, "encryption defaults on: the keys persist in the database");
  assert.equal(cryptoOptionsOf({ storeUrl: "postgres://h/db", storePath: "x.db" }).storePath, undefined, "no crypto file beside storePath");
});

const skip = postgresUnavailable();
describe("PostgresStore on a real server", { skip }, () => {
  let pg: TestPostgres;
  let admin: postgres.Sql;
  const opened: PostgresStore[] = [];
  const make = (schema: string, options: ConstructorParameters<typeof PostgresStore>[1] = {}): PostgresStore => {
    const store = new PostgresStore(pg.url, { schema, ...options });
    opened.push(store);
    return store;
  };
  before(async () => {
    pg = await startTestPostgres();
    admin = postgres(pg.url, { onnotice: () => undefined, max: 2 });
  });
  after(async () => {
    for (const store of opened) await store.close().catch(() => undefined);
    await admin?.end({ timeout: 1 });
    await pg?.stop();
  });

  test("survives reopening; a second process on the same schema is refused; another schema is another bot", async () => {
    const schema = pg.schema();
    const a = make(schema);
    await a.open();
    await a.commitSync("tok", [{ kind: "accountData", roomId: undefined, type: "m.direct", content: { "@u:x": ["!dm:x"] } }]);
    await a.markHandled("$x");
    await assert.rejects(make(schema).open(), StoreLockedError);
    const other = make(pg.schema());
    await other.open();
    assert.equal(await other.getSyncToken(), undefined);
    await a.close();
    const b = make(schema);
    await b.open();
    assert.equal(await b.getSyncToken(), "tok");
    assert.equal(await b.isHandled("$x"), true);
    assert.deepEqual((await b.loadRooms()).accountData[0]?.content, { "@u:x": ["!dm:x"] });
  });

  test("migrations are versioned, run once even when replicas start together, and a newer schema is refused", async () => {
    const schema = pg.schema();
    const replicas = [make(schema, { shared: true }), make(schema, { shared: true }), make(schema, { shared: true })];
    await Promise.all(replicas.map((s) => s.open()));
    const versions = await admin.unsafe(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
    assert.deepEqual(versions.map((r) => r.version as number), MIGRATIONS.map((_, i) => i + 1));
    await admin.unsafe(`INSERT INTO "${schema}".schema_version (version) VALUES (${MIGRATIONS.length + 1})`);
    await assert.rejects(make(schema, { shared: true }).open(), SchemaTooNewError);
  });

  test("fencing: a stale fencing number writes nothing, whatever the write; the current one writes", async () => {
    const schema = pg.schema();
    const store = make(schema, { shared: true });
    await store.open();
    await store.commitSync("before", []);
    await admin.unsafe(`UPDATE "${schema}".lease SET fence = 7, holder = 'other'`);
    store.setFence(6);
    const writes: [string, () => Promise<unknown>][] = [
      ["commitSync", () => store.commitSync("after", [{ kind: "room", roomId: "!r:x", info: { roomId: "!r:x", membership: "join" } }])],
      ["markHandled", () => store.markHandled("$e")],
      ["setLogin", () => store.setLogin({ userId: "@b:x", deviceId: "D", accessToken: "t", homeserver: "h" })],
      ["setValue", () => store.setValue("k", "v")],
      ["kvSet", () => store.kvSet("ns", "k", "1", undefined)],
      ["setEffect", () => store.setEffect("$e", "k", "{}")],
      ["putPendingEvent", () => store.putPendingEvent({ eventId: "$p", roomId: "!r:x", sender: "@u:x", sessionId: "s", since: 1, json: "{}" })],
      ["crypto snapshot", () => store.cryptoSnapshots().applyDeltas({ userId: "@b:x", deviceId: "D", clean: false }, [])],
    ];
    for (const [name, write] of writes) await assert.rejects(write(), StoreFencedError, name);
    assert.equal(await store.getSyncToken(), "before");
    assert.equal(await store.isHandled("$e"), false);
    assert.equal(await store.getLogin(), undefined);
    assert.equal(await store.kvGet("ns", "k"), undefined);
    assert.deepEqual(await store.loadPendingEvents(), []);
    assert.equal((await store.loadRooms()).rooms.length, 0);
    assert.equal(await store.cryptoSnapshots().load(), undefined);
    store.setFence(7);
    await store.commitSync("after", []);
    assert.equal(await store.getSyncToken(), "after");
  });

  test("the crypto store lives in the database: a machine's identity survives close and open, the clean mark saved incrementally", async () => {
    await initAsync();
    const schema = pg.schema();
    const store = make(schema);
    await store.open();
    const first = new CryptoStoreFile(undefined, store.cryptoSnapshots());
    assert.equal(first.persistent, true);
    assert.equal((await first.open()).kind, "none");
    first.setOwner("@bot:example.org", "PGDEVICE");
    const machine = await OlmMachine.initialize(new UserId("@bot:example.org"), new DeviceId("PGDEVICE"), first.storeName);
    const keys = machine.identityKeys.curve25519.toBase64();
    await first.save();
    const [count] = await admin.unsafe(`SELECT count(*)::int AS n FROM "${schema}".crypto_records`);
    assert.ok((count?.n as number) > 0, "records are rows in the bot's schema");
    machine.close();
    await first.close();
    await store.close();

    const reopened = make(schema);
    await reopened.open();
    const second = new CryptoStoreFile(undefined, reopened.cryptoSnapshots());
    assert.deepEqual(await second.open(), { kind: "restored", meta: { userId: "@bot:example.org", deviceId: "PGDEVICE", clean: true } });
    const again = await OlmMachine.initialize(new UserId("@bot:example.org"), new DeviceId("PGDEVICE"), second.storeName);
    assert.equal(again.identityKeys.curve25519.toBase64(), keys);
    again.close();
    await second.abandon();
  });

  test("a server restart while writing: every write waits and lands, none is lost", async () => {
    const store = make(pg.schema());
    await store.open();
    let stop = false;
    let written = 0;
    const writer = (async () => {
      while (!stop) {
        await store.markHandled(`$w${written}`);
        written++;
      }
    })();
    while (written < 20) await new Promise((r) => setTimeout(r, 10));
    await pg.restart();
    const after = written;
    while (written < after + 20) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await writer;
    for (let i = 0; i < written; i++) assert.equal(await store.isHandled(`$w${i}`), true, `$w${i}`);
    await store.commitSync("after-restart", []);
    assert.equal(await store.getSyncToken(), "after-restart");
  });
});
