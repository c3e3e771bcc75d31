/**
 * `npm run demo`: a local Synapse, the example bots, and a scripted user
 * talking to them, printed as a chat log.
 *
 *   npm run demo              plays the conversation, then cleans up
 *   npm run demo -- --keep    leaves everything running and tells you how to log in
 */
import { randomBytes } from "node:crypto";
import { MatrixApi } from "../src/api/client.js";
import type { ClientEvent } from "../src/api/events.js";
import type { NioBot } from "../src/bot/bot.js";
import { startDevHomeserver, type DevHomeserver } from "../src/devserver/index.js";
import { consoleLogger } from "../src/logging/logger.js";
import { createDmBot } from "../examples/direct-messages.js";
import { isMain } from "../examples/env.js";
import { createBot } from "../examples/simple.js";

/** One line of the conversation. */
export interface TranscriptLine {
  room: string;
  sender: string;
  body: string;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where progress and the chat log go (default standard output). */
  write?: (text: string) => void;
  /** Leave the homeserver and bots running; resolves only once stopped by a signal. */
  keep?: boolean;
  /** Use this homeserver instead of starting one (tests). */
  homeserver?: DevHomeserver;
}

/** The scripted human: sends messages and follows the rooms it is in through its own sync. */
class DemoUser {
  readonly api: MatrixApi;
  readonly events: ClientEvent[] = [];
  readonly invites = new Set<string>();
  #since: string | undefined;

  constructor(baseUrl: string, accessToken: string, readonly userId: string) {
    this.api = new MatrixApi({ baseUrl, accessToken });
  }

  async say(roomId: string, body: string): Promise<string> {
    const { event_id } = await this.api.rooms.send(roomId, "m.room.message", { msgtype: "m.text", body });
    return event_id;
  }

  async until<T>(find: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
      const sync = await this.api.sync.sync({ since: this.#since, timeout: 2_000 });
      this.#since = sync.next_batch;
      for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {}))
        for (const e of room.timeline?.events ?? []) this.events.push({ ...e, room_id: roomId });
      for (const roomId of Object.keys(sync.rooms?.invite ?? {})) this.invites.add(roomId);
    }
  }

  replyTo(eventId: string): Promise<ClientEvent> {
    return this.until(
      () => this.events.find((e) => (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === eventId),
      `a reply to ${eventId}`,
    );
  }
}

/** Plays the scripted conversation; returns the transcript. */
export async function runDemo(options: DemoOptions = {}): Promise<TranscriptLine[]> {
  const write = options.write ?? ((t: string) => void process.stdout.write(t));
  const started = Date.now();
  const step = (n: number, text: string): void => write(`[${n}/4] ${text}\n`);
  const transcript: TranscriptLine[] = [];
  let hs = options.homeserver;
  const bots: NioBot[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled(bots.map((b) => b.stop()));
    if (!options.homeserver) await hs?.stop();
  };
  const onSignal = (): void => void cleanup().then(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    step(1, "Homeserver: starting a local Synapse (the first run builds its root filesystem, about a minute)");
    hs ??= await startDevHomeserver({ onProgress: (m) => write(`      ${m}\n`) });
    write(`      ready at ${hs.baseUrl} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    step(2, "Accounts: a bot for examples/simple.ts, one for examples/direct-messages.ts, and a demo user");
    // A fresh homeserver gets memorable names; a shared one (tests) needs unique ones.
    const suffix = options.homeserver ? `-${randomBytes(3).toString("hex")}` : "";
    const password = `demo-${randomBytes(4).toString("hex")}`;
    const simpleAccount = await hs.registerUser(`niobot${suffix}`, randomBytes(12).toString("hex"), { displayName: "niobot" });
    const dmAccount = await hs.registerUser(`dmbot${suffix}`, randomBytes(12).toString("hex"), { displayName: "dmbot" });
    const alice = await hs.registerUser(`alice${suffix}`, password, { displayName: "Alice" });
    const names = new Map([[simpleAccount.userId, "niobot"], [dmAccount.userId, "dmbot"], [alice.userId, "alice"]]);
    write(`      ${[...names.keys()].join(", ")}\n`);

    step(3, "Bots: starting both examples");
    const quiet = { logger: consoleLogger(process.env.NIOBOT_LOG_LEVEL === undefined ? "warn" : (process.env.NIOBOT_LOG_LEVEL as "info")), handleSignals: false };
    // Configured exactly as when run by hand: through the examples' environment convention.
    const env = (account: { userId: string; accessToken: string }) =>
      ({ MATRIX_HOMESERVER: hs?.baseUrl, MATRIX_USER_ID: account.userId, MATRIX_ACCESS_TOKEN: account.accessToken, BOT_PREFIX: "!" });
    const simple = createBot(env(simpleAccount), quiet);
    const dm = createDmBot(env(dmAccount), quiet);
    bots.push(simple.bot, dm.bot);
    await Promise.all([simple.bot.start(simple.credentials), dm.bot.start(dm.credentials)]);

    step(4, "Conversation: the demo user talks to the bots\n");
    const user = new DemoUser(hs.baseUrl, alice.accessToken, alice.userId);
    const { room_id: roomId } = await user.api.rooms.create({ name: "niobot demo", preset: "private_chat", invite: [simpleAccount.userId, dmAccount.userId] });
    await waitForJoins(user.api, roomId, [simpleAccount.userId, dmAccount.userId]);

    const roomNames = new Map([[roomId, "#niobot-demo"]]);
    const print = (e: ClientEvent): void => {
      const line = { room: roomNames.get(e.room_id) ?? e.room_id, sender: names.get(e.sender) ?? e.sender, body: String(e.content.body ?? "") };
      transcript.push(line);
      const [first = "", ...rest] = line.body.split("\n");
      write(`  ${line.room.padEnd(13)} ${line.sender.padStart(6)} │ ${first}\n`);
      for (const more of rest) write(`  ${"".padEnd(13)} ${"".padStart(6)} │ ${more}\n`);
    };
    const exchange = async (text: string): Promise<void> => {
      const id = await user.say(roomId, text);
      print({ event_id: id, room_id: roomId, sender: alice.userId, type: "m.room.message", origin_server_ts: Date.now(), content: { body: text } });
      print(await user.replyTo(id));
    };

    await exchange("!ping");
    await exchange("!echo Hello @room, meet **niobot**");
    await exchange("!add 2 40");
    await exchange("!add two 40");
    await exchange(`!wave ${alice.userId}`);

    const dmId = await user.say(roomId, "!dm");
    print({ event_id: dmId, room_id: roomId, sender: alice.userId, type: "m.room.message", origin_server_ts: Date.now(), content: { body: "!dm" } });
    const dmRoom = await user.until(() => [...user.invites][0], "the DM invite");
    await user.api.rooms.join(dmRoom);
    roomNames.set(dmRoom, "(DM dmbot)");
    print(await user.until(() => user.events.find((e) => e.room_id === dmRoom && e.sender === dmAccount.userId && e.type === "m.room.message"), "the direct message"));
    await exchange("!get-dm-rooms");

    write(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
    if (options.keep) {
      write(
        `\nEverything keeps running. Log in from any Matrix client (e.g. Element) with:\n` +
          `  homeserver  ${hs.baseUrl}\n  user        ${alice.userId}\n  password    ${password}\n` +
          `Talk to ${simpleAccount.userId} and ${dmAccount.userId} in "niobot demo". Press Ctrl-C to stop and clean up.\n`,
      );
      await new Promise<never>(() => undefined);
    }
    return transcript;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!options.keep) await cleanup();
  }
}

async function waitForJoins(api: MatrixApi, roomId: string, userIds: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { joined } = await api.rooms.joinedMembers(roomId);
    if (userIds.every((u) => u in joined)) return;
    if (Date.now() > deadline) throw new Error("demo: the bots did not join");
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (isMain(import.meta.url)) {
  runDemo({ keep: process.argv.includes("--keep") }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
