/**
 * Type-level tests of the framework's public shapes (checked by `tsc --noEmit`): argument types
 * reach handlers without casts, from signature literals, `signature()` and `args()` alike, and
 * decorated methods are checked against their declaration.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NioBot } from "../../src/bot/bot.js";
import {
  arg,
  args,
  command,
  defineCommand,
  integer,
  rest,
  signature,
  user,
  defineModule,
  type ArgsOf,
  type Command,
  type CommandContext,
  type CommandDefinition,
} from "../../src/commands/index.js";
import { consoleLogger } from "../../src/logging/logger.js";
import { MemoryStore } from "../../src/storage/memory.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

const bot = new NioBot({ homeserver: "http://127.0.0.1:1", userId: "@b:x.org", store: new MemoryStore(), logger: consoleLogger("silent"), handleSignals: false });

test("bot.command infers argument types from every declaration form", () => {
  bot.command("add", { args: "<a:int> <b:int>" }, (_ctx, _params) => {
    type _t = Expect<Equal<typeof _params, { a: number; b: number }>>;
    return _params.a + _params.b;
  });
  bot.command("ban", { args: "<user:user> <count:int> [reason...]" }, (_ctx, _params) => {
    type _t = Expect<Equal<typeof _params, { user: string; count: number; reason?: string }>>;
  });
  bot.command("sig", { args: signature("<n:int> [tags*]") }, (_ctx, _params) => {
    type _t = Expect<Equal<typeof _params, { n: number; tags: string[] }>>;
  });
  bot.command("built", { args: args(arg("who", user()), arg("n", integer()).default(1), arg("why", rest()).optional()) }, (_ctx, _params) => {
    type _t = Expect<Equal<typeof _params, { who: string; n: number; why?: string }>>;
  });
  bot.command("none", { description: "no args" }, (_ctx, _params) => {
    type _t = Expect<Equal<typeof _params, Record<never, never>>>;
  });
  bot.command("short", (ctx) => ctx.sender);
  // An invalid signature fails to compile, naming the problem; at run time it throws.
  // @ts-expect-error -- 'Invalid argument <n:itn>: unknown type "itn"'
  assert.throws(() => bot.command("bad", { args: "<n:itn>" }, () => undefined), SyntaxError);
  // @ts-expect-error -- the handler's use of a wrong type is caught
  bot.command("wrong", { args: "<n:int>" }, (_ctx, { n }) => n.toUpperCase());
  assert.equal(bot.commands.get("add")?.usage, "<a> <b>");
});

test("defineCommand keeps the args type; decorators check the method against the declaration", () => {
  const _def = defineCommand("x", { args: "<a:int>" }, (_ctx, { a }) => a);
  type _d = Expect<Equal<typeof _def, CommandDefinition<{ a: number }>>>;

  class Good {
    @command("roll", { args: "[n:int=1]" })
    roll(_ctx: CommandContext, { n }: ArgsOf<"[n:int=1]">): number {
      return n;
    }
  }
  class Bad {
    // @ts-expect-error -- the method says string, the declaration says int
    @command("roll", { args: "<n:int>" })
    roll(_ctx: CommandContext, { n }: { n: string }): string {
      return n;
    }
  }
  assert.equal(new Good().roll({} as CommandContext, { n: 2 }), 2);
  assert.equal(new Bad().roll({} as CommandContext, { n: "x" }), "x");
});

test("the commands layer's narrow host still gives bot authors the whole bot", () => {
  // commands/ is typed against `CommandHost`; the bot layer widens `ctx.bot`, module hooks and
  // module listeners to `NioBot` and its event map (declaration merging in bot/bot.ts).
  const _def = defineCommand("who", (ctx) => {
    const _bot: NioBot = ctx.bot;
    const _command: Command = ctx.command;
    type _b = Expect<Equal<ReturnType<typeof ctx.bot.getRoom>, ReturnType<NioBot["getRoom"]>>>;
    return ctx.bot.roomsApi;
  });
  const _module = defineModule({
    name: "m",
    listeners: { join: (room) => room.roomId, decryptionFailure: (_room, _event, failure) => failure.willRetry },
    onMount: (b) => b.rooms,
  });
  // @ts-expect-error -- not an event of the bot
  defineModule({ name: "typo", listeners: { jion: () => undefined } });
  assert.ok(_def && _module);
});
