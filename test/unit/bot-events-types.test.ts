/**
 * Type-level tests of the bot's event map (checked by `tsc --noEmit`, which `npm run lint` runs):
 * the map is closed, so a misspelt event name is a compile error, and listeners and `emit` get
 * each event's own argument tuple without casts. The runtime test checks that the same calls
 * behave as typed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClientEvent, MessageEvent, ReactionEvent } from "../../src/api/events.js";
import { NioBot } from "../../src/bot/bot.js";
import type { CoreBotEvents, ErrorContext } from "../../src/bot/events.js";
import type { CommandContext } from "../../src/commands/context.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { Room } from "../../src/sync/room.js";

// An application's own event, added by declaration merging (as `declare module "niobot"` does
// for an installed package). Module augmentation is program-wide: the name is test-only.
declare module "../../src/bot/events.js" {
  interface CoreBotEvents {
    testOnlyDeployed: [version: string];
  }
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

/** The map has no index signature: `string` is not one of its keys. */
type _closed = Expect<Equal<string extends keyof CoreBotEvents ? true : false, false>>;
type _message = Expect<Equal<CoreBotEvents["message"], [room: Room, event: MessageEvent]>>;
type _command = Expect<Equal<CoreBotEvents["commandComplete"], [ctx: CommandContext, result: unknown]>>;

const bot = new NioBot({ homeserver: "http://127.0.0.1:1", userId: "@b:x.org", store: new MemoryStore(), logger: consoleLogger("silent"), handleSignals: false });

test("event names are checked and listeners get their event's arguments", async () => {
  const seen: string[] = [];
  bot.on("message", (room, event) => {
    type _r = Expect<Equal<typeof room, Room>>;
    type _e = Expect<Equal<typeof event, MessageEvent>>;
    seen.push(`message ${event.event_id}`);
  });
  bot.on("reaction", (_room, event, key) => {
    type _e = Expect<Equal<typeof event, ReactionEvent>>;
    seen.push(`reaction ${key}`);
  });
  bot.on("error", (_error, _context) => {
    type _c = Expect<Equal<typeof _context, ErrorContext>>;
  });
  // @ts-expect-error -- "mesage" is not an event: the typo does not compile
  bot.on("mesage", () => undefined);
  // @ts-expect-error -- nor does emitting it
  void bot.emit("mesage");
  // @ts-expect-error -- the arguments are checked against the event's tuple
  void bot.emit("join", "!not-a-room:x.org");
  // @ts-expect-error -- waitForEvent takes only known names too
  void bot.waitForEvent("comandComplete", undefined, 1).catch(() => undefined);

  const room = { roomId: "!r:x.org" } as Room;
  const event = { event_id: "$m", type: "m.room.message", sender: "@a:x.org", origin_server_ts: 0, room_id: "!r:x.org", content: { msgtype: "m.text", body: "hi" } } satisfies ClientEvent;
  await bot.emit("message", room, event as MessageEvent);
  await bot.emit("reaction", room, { ...event, event_id: "$r", type: "m.reaction", content: {} } as unknown as ReactionEvent, "👍", "$m");
  assert.deepEqual(seen, ["message $m", "reaction 👍"]);
});

test("an application extends the map by declaration merging, then emits its event typed", async () => {
  const versions: string[] = [];
  bot.on("testOnlyDeployed", (version) => {
    type _v = Expect<Equal<typeof version, string>>;
    versions.push(version);
  });
  await bot.emit("testOnlyDeployed", "1.2.0");
  // @ts-expect-error -- its tuple is checked like the core events'
  await bot.emit("testOnlyDeployed", 3);
  assert.deepEqual(versions, ["1.2.0", 3]);
});
