/**
 * Appservice mode against a real Synapse loading generated registrations.
 * Synapse runs with a tight message rate limit, so "not rate-limited" means
 * something: a regular user hits it, virtual users of a `rate_limited: false`
 * registration do not.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { MatrixApi } from "../../src/api/client.js";
import type { FetchLike } from "../../src/api/http.js";
import type { AppserviceRegistration } from "../../src/appservice/registration.js";
import { NioBot } from "../../src/bot/bot.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { registrationToYaml, startTestHomeserver, testAppserviceRegistration, type TestHomeserver } from "../../src/testing/homeserver.js";
import { tempStorePath } from "../helpers/matrix.js";
import { createAppserviceBot } from "../../examples/appservice.js";

const canRunLocal = process.getuid?.() === 0;
const skip = !canRunLocal && "needs root to start a Synapse with an appservice registration";
const logger = consoleLogger(process.env.NIOBOT_LOG_LEVEL === undefined ? "silent" : (process.env.NIOBOT_LOG_LEVEL as "debug"));

let hs: TestHomeserver | undefined;
let main: AppserviceRegistration;
let crash: AppserviceRegistration;
let example: AppserviceRegistration;
let bot: NioBot | undefined;
let pings = 0;
/** Every request the appservice bot made, for the 429 count. */
const statuses: number[] = [];
const recording: FetchLike = async (input, init) => {
  const response = await fetch(input, init);
  statuses.push(response.status);
  return response;
};

before(async () => {
  if (!canRunLocal) return;
  main = await testAppserviceRegistration({ id: "nbtest", senderLocalpart: "asbot", userPrefixes: ["_nbas_"] });
  crash = await testAppserviceRegistration({ id: "nbcrash", senderLocalpart: "crashbot", userPrefixes: ["_nbcrash_"] });
  example = await testAppserviceRegistration({ id: "nbex", senderLocalpart: "exbot" });
  hs = await startTestHomeserver({
    appservices: [main, crash, example].map((r) => ({ yaml: registrationToYaml(r) })),
    rateLimits: { rc_message: { per_second: 0.5, burst_count: 5 } },
    // A Synapse of its own starts beside the shared one: give it time on a loaded machine.
    startTimeoutMs: 180_000,
  });
  bot = new NioBot({
    homeserver: hs.baseUrl,
    userId: "@asbot:localhost",
    handleSignals: false,
    logger,
    fetch: recording,
    storePath: tempStorePath("as.db"),
    appservice: { registration: main, listen: { port: new URL(main.url!).port ? Number(new URL(main.url!).port) : 0 } },
  });
  bot.command("ping", async (ctx) => {
    pings++;
    await ctx.respond("pong");
  });
  await bot.start();
});

after(async () => {
  await bot?.stop();
  await hs?.stop();
});

test("a user in a room with the appservice's bot says !ping and gets an answer", { skip, timeout: 120_000 }, async () => {
  assert.ok(hs && bot);
  const alice = await hs.user("alice");
  const roomId = await alice.createRoom({ invite: [bot.userId] });
  await alice.say(roomId, "!ping");
  const reply = await alice.expectReply(roomId, /pong/);
  assert.equal(reply.sender, "@asbot:localhost");
  assert.equal(bot.deviceId, undefined, "no login, no device: the as_token is the credential");
});

test("a bad hs_token gets 403 M_FORBIDDEN and nothing is handled", { skip, timeout: 120_000 }, async () => {
  assert.ok(hs && bot);
  const alice = await hs.user("mallory-target");
  const roomId = await alice.createRoom({ invite: [bot.userId] });
  const before = pings;
  const forged = {
    events: [{ type: "m.room.message", event_id: "$forged:localhost", room_id: roomId, sender: alice.userId, origin_server_ts: Date.now(), content: { msgtype: "m.text", body: "!ping" } }],
  };
  const url = `http://127.0.0.1:${bot.appservice.port}/_matrix/app/v1/transactions/forged-1`;
  const put = (headers: Record<string, string>, query = ""): Promise<Response> =>
    fetch(url + query, { method: "PUT", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(forged) });

  const wrong = await put({ authorization: "Bearer not-the-hs-token" });
  assert.equal(wrong.status, 403);
  assert.equal(((await wrong.json()) as { errcode: string }).errcode, "M_FORBIDDEN");
  const legacyWrong = await put({}, "?access_token=not-the-hs-token");
  assert.equal(legacyWrong.status, 403);
  // Both given and only one right: still refused.
  const mixed = await put({ authorization: `Bearer ${main.hs_token}` }, "?access_token=wrong");
  assert.equal(mixed.status, 403);
  const missing = await put({});
  assert.equal(missing.status, 401);

  await alice.expectNoReply(roomId, 2_000);
  assert.equal(pings, before, "no handler ran for the forged transaction");

  // The same body with the right token is handled: the refusal above was the token, nothing else.
  const right = await put({ authorization: `Bearer ${main.hs_token}` });
  assert.equal(right.status, 200);
  assert.equal(pings, before + 1, "handled before the 200 was sent");
  await alice.expectReply(roomId, /pong/);
});

test("a virtual user is registered with a profile, joins a room, sends, and DMs a real user (its own m.direct)", { skip, timeout: 120_000 }, async () => {
  assert.ok(hs && bot);
  const bob = await hs.user("bob");
  const ghost = await bot.as("@_nbas_ghost:localhost", { displayName: "Ghost (bridged)" });
  assert.equal((await bob.client.api.profile.get(ghost.userId)).displayname, "Ghost (bridged)");
  const roomId = await bob.createRoom({ invite: [ghost.userId], waitForJoin: false });

  assert.equal(await ghost.join(roomId), roomId);
  await bob.waitForJoin(roomId, ghost.userId);
  await ghost.sendMessage(roomId, "hello from the ghost");
  const said = await bob.expectReply(roomId, /hello from the ghost/);
  assert.equal(said.sender, ghost.userId);
  assert.equal(said.content.msgtype, "m.text");

  const dmRoom = await ghost.dms.resolve(bob.userId);
  await ghost.sendMessage(bob.userId, "a direct word");
  const invited = await bob.acceptInvite({ roomId: dmRoom });
  assert.equal(invited, dmRoom);
  await bob.expectReply(dmRoom, /a direct word/);
  const direct = await ghost.api.accountData.get(ghost.userId, "m.direct");
  assert.deepEqual(direct[bob.userId], [dmRoom], "recorded in the virtual user's own m.direct");
  // The bot's main user has its own m.direct, untouched by the ghost's DM.
  const botDirect = await bot.api.accountData.get(bot.userId, "m.direct").catch(() => ({}));
  assert.equal((botDirect as Record<string, unknown>)[bob.userId], undefined);
  // The same DM is found again (from m.direct), not created twice.
  assert.equal(await ghost.dms.resolve(bob.userId), dmRoom);
});

test("100 sends as virtual users are not rate-limited (while a regular user is)", { skip, timeout: 300_000 }, async () => {
  assert.ok(hs && bot);
  const carol = await hs.user("carol");
  const ghosts = await Promise.all([0, 1, 2, 3].map((i) => bot!.as(`@_nbas_burst${i}:localhost`)));
  const human = await hs.register("limited");
  const roomId = await carol.createRoom({ invite: [...ghosts.map((g) => g.userId), human.userId], waitForJoin: false });
  for (const ghost of ghosts) await ghost.join(roomId);

  // Control: the limiter is on. A regular user's burst of 10 gets 429s.
  let limited = 0;
  const counting: FetchLike = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 429) limited++;
    return response;
  };
  const humanApi = new MatrixApi({ baseUrl: hs.baseUrl, accessToken: human.accessToken, fetch: counting });
  await humanApi.rooms.join(roomId);
  await Promise.all(Array.from({ length: 10 }, (_, i) => humanApi.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body: `human ${i}` })));
  assert.ok(limited > 0, "the homeserver rate-limits a regular user's burst");

  statuses.length = 0;
  const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => ghosts[i % ghosts.length]!.sendMessage(roomId, `burst ${i}`)));
  assert.equal(new Set(ids).size, 100);
  assert.equal(statuses.filter((s) => s === 429).length, 0, "no 429 seen by the appservice");
});

/** Synapse's log lines about appservice delivery, for a failure message. */
function synapseAppserviceLog(): string {
  const file = hs?.server.logFile;
  if (!file) return "(no log)";
  return readFileSync(file, "utf8").split("\n").filter((l) => /appservice|recover|retr|transaction|nbcrash|crashbot/i.test(l)).slice(-60).join("\n");
}

function startCrashBot(store: string, registrationPath: string, crashInHandler: boolean): { child: ChildProcess; lines: string[]; waitFor: (re: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/appservice-crash-bot.ts"], {
    env: { ...process.env, AS_HOMESERVER: hs!.baseUrl, AS_USER_ID: "@crashbot:localhost", AS_STORE: store, AS_REGISTRATION: registrationPath, AS_CRASH: crashInHandler ? "1" : "0", ...(process.env.AS_CRASH_LOG ? { NIOBOT_LOG_LEVEL: "debug" } : {}) },
    stdio: ["ignore", "pipe", process.env.AS_CRASH_LOG ? "inherit" : "ignore"],
  });
  const lines: string[] = [];
  let buffered = "";
  const waiters: (() => void)[] = [];
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const waitFor = async (re: RegExp): Promise<string> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const line = lines.find((l) => re.test(l));
      if (line !== undefined) return line;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the appservice process exited (${child.signalCode ?? child.exitCode}) before printing ${re}; it printed: ${lines.join(" | ")}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; printed: ${lines.join(" | ")}\nSynapse's appservice log lines:\n${synapseAppserviceLog()}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return { child, lines, waitFor };
}

test("a transaction cut off by a crash before its acknowledgement is sent again and answered once", { skip, timeout: 240_000 }, async () => {
  assert.ok(hs);
  const store = tempStorePath("crash-as.db");
  const registrationPath = `${store}.registration.yaml`;
  writeFileSync(registrationPath, registrationToYaml(crash), { mode: 0o600 });
  const dave = await hs.user("dave");

  const first = startCrashBot(store, registrationPath, true);
  try {
    await first.waitFor(/^READY$/);
    const roomId = await dave.createRoom({ invite: ["@crashbot:localhost"] });
    const command = await dave.say(roomId, "!ping");
    const handled = await first.waitFor(/^HANDLED /);
    const [, eventId, firstReply] = handled.split(" ");
    assert.equal(eventId, command);
    await new Promise<void>((resolve) => (first.child.exitCode !== null || first.child.signalCode !== null ? resolve() : first.child.once("exit", () => resolve())));
    assert.equal(first.child.signalCode, "SIGKILL", "killed inside the handler, before acknowledging");

    const second = startCrashBot(store, registrationPath, false);
    try {
      await second.waitFor(/^READY$/);
      // The homeserver resends the unacknowledged transaction (the start-up ping asks it to retry now).
      const again = await second.waitFor(/^HANDLED /);
      const [, replayedId, secondReply] = again.split(" ");
      assert.equal(replayedId, command, "the replayed transaction brought the same command");
      assert.equal(secondReply, firstReply, "the answer's transaction id made the homeserver return the first answer");
      await dave.expectReply(roomId, /pong/);
      await dave.expectNoReply(roomId, 3_000);
      const pongs = dave.events(roomId).filter((e) => e.event.sender === "@crashbot:localhost" && e.event.type === "m.room.message");
      assert.equal(pongs.length, 1, "one answer, not two");
    } finally {
      second.child.kill("SIGTERM");
    }
  } finally {
    if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill("SIGKILL");
  }
});

test("examples/appservice.ts: !ping, !puppet and !dm", { skip, timeout: 180_000 }, async () => {
  assert.ok(hs);
  const exampleBot = createAppserviceBot({ MATRIX_HOMESERVER: hs.baseUrl, MATRIX_USER_ID: "@exbot:localhost" }, { registration: example, logger, handleSignals: false });
  await exampleBot.start();
  try {
    const erin = await hs.user("erin");
    const roomId = await erin.createRoom({ invite: [exampleBot.userId] });
    await erin.say(roomId, "!ping");
    await erin.expectReply(roomId, /Pong/);
    await erin.say(roomId, "!puppet Zed hello, I am Zed");
    const said = await erin.expectReply(roomId, /hello, I am Zed/);
    assert.equal(said.sender, "@_nbex_zed:localhost");
    await erin.say(roomId, "!dm Zed");
    await erin.expectReply(roomId, /sent you a direct message/);
    const dmRoom = await (await exampleBot.as("@_nbex_zed:localhost")).dms.resolve(erin.userId);
    assert.notEqual(dmRoom, roomId);
    await erin.acceptInvite({ roomId: dmRoom });
    await erin.expectReply(dmRoom, /this is Zed/);
  } finally {
    await exampleBot.stop();
  }
});
