/**
 * The PostgreSQL store against the real homeserver and a real PostgreSQL:
 * a bot that ran on SQLite (encrypted DM, answered `!ping`) is moved with
 * `niobot store migrate` and keeps its device, its DM rooms and its
 * encryption: the same person's encrypted `!ping` is answered afterwards.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NioBot, silentLogger } from "../../src/index.js";
import { startTestHomeserver, type TestBotAccount, type TestHomeserver } from "../../src/testing/index.js";
import { runCli } from "../helpers/cli.js";
import { postgresUnavailable, startTestPostgres, type TestPostgres } from "../helpers/postgres.js";

function pingBot(account: TestBotAccount, store: { storePath: string } | { storeUrl: string }): NioBot {
  const bot = new NioBot({ homeserver: account.homeserver, userId: account.userId, handleSignals: false, logger: silentLogger, ...store });
  bot.command("ping", (ctx) => ctx.respond(`pong from ${bot.deviceId}`));
  return bot;
}

describe("PostgreSQL store with a real homeserver", { skip: postgresUnavailable() }, () => {
  let hs: TestHomeserver;
  let pg: TestPostgres;
  const dir = mkdtempSync(join(tmpdir(), "niobot-pg-it-"));
  const bots: NioBot[] = [];

  before(async () => {
    // One after the other: on a busy machine, starting PostgreSQL beside the homeserver probe can time the probe out.
    hs = await startTestHomeserver();
    pg = await startTestPostgres();
  });
  after(async () => {
    for (const bot of bots) await bot.stop().catch(() => undefined);
    await hs?.stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("niobot store migrate: a bot moved from SQLite keeps its device id and DM rooms and answers an encrypted !ping", async () => {
    const account = await hs.botAccount("mover");
    const storePath = join(dir, "mover.db");
    const before = pingBot(account, { storePath });
    bots.push(before);
    await before.start({ password: account.password });
    const alice = await hs.user("alice", { encrypted: true });
    const room = await alice.dm(before.userId);
    await alice.say(room, "!ping");
    const device = before.deviceId!;
    await alice.expectReply(room, new RegExp(`^pong from ${device}$`));
    const listDevices = async (bot: NioBot): Promise<string[]> =>
      (await bot.api.http.request<{ devices: { device_id: string }[] }>({ method: "GET", path: "/_matrix/client/v3/devices" })).devices.map((d) => d.device_id).sort();
    const devicesBefore = await listDevices(before);
    assert.ok(devicesBefore.includes(device));
    const dms = await before.getDmRooms();
    assert.deepEqual(dms[alice.userId], [room]);
    await before.stop();

    const url = `${pg.url}?schema=mover`;
    const migrated = await runCli(["store", "migrate", "--from", storePath, "--to", url, "--json"]);
    assert.equal(migrated.code, 0, migrated.stderr);
    const report = JSON.parse(migrated.stdout) as { deviceId: string; cryptoRecords: number; rows: { rooms: number } };
    assert.equal(report.deviceId, device);
    assert.ok(report.cryptoRecords > 0, "the encryption keys were copied");
    assert.ok(report.rows.rooms >= 1);
    const again = await runCli(["store", "migrate", "--from", storePath, "--to", url]);
    assert.equal(again.code, 1, "a schema that holds a store is not overwritten");
    assert.match(again.stderr, /already holds a store/);

    // No credentials: the login comes from PostgreSQL, and so do the keys.
    const after = pingBot(account, { storeUrl: url });
    bots.push(after);
    await after.start();
    assert.equal(after.deviceId, device, "same device");
    assert.deepEqual((await after.getDmRooms())[alice.userId], [room], "same DM room");
    await alice.say(room, "!ping");
    const reply = await alice.expectReply(room, new RegExp(`^pong from ${device}$`));
    const wire = await alice.client.api.rooms.event(room, reply.event_id);
    assert.equal(wire.type, "m.room.encrypted", "still encrypted");
    assert.deepEqual(await listDevices(after), devicesBefore, "no new device was made");
  });
});
