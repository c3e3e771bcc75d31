/**
 * Crash safety from the user's side: a real bot process (`test/fixtures/crash-bot.ts`, i.e.
 * `examples/simple.ts` with a SQLite store) is killed with `kill -9` in the middle of bursts of
 * commands and restarted each time. The restarted bot handles again the events it had answered
 * but not yet recorded; each command must still be answered exactly once, and a `ctx.once`
 * side effect must have happened once.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClientEvent } from "../../src/api/events.js";
import { homeserver, newTestUser, newUser, tempStorePath, type TestUser } from "../helpers/matrix.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Kills (each followed by a restart), commands per burst, and how long recording a handled event takes. */
const ROUNDS = 3;
const BURST = 16;
const MARK_HANDLED_DELAY_MS = 2000;

function inReplyTo(e: ClientEvent): string | undefined {
  const rel = e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = rel?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : undefined;
}

/** Every event of a room, read back from the server (not from what a sync happened to show). */
async function timeline(user: TestUser, roomId: string): Promise<ClientEvent[]> {
  const events: ClientEvent[] = [];
  let from: string | undefined;
  for (;;) {
    const page = await user.api.sync.messages(roomId, { dir: "b", limit: 500, ...(from === undefined ? {} : { from }) });
    for (const e of page.chunk) events.push({ ...e, room_id: roomId });
    if (page.end === undefined || page.chunk.length === 0) return events;
    from = page.end;
  }
}

// Each restart loads the bot and its crypto anew: allow more than the runner's default on a busy machine.
test("kill -9 during bursts of commands: after each restart, every command is answered exactly once", { timeout: 600_000 }, async (t) => {
  const hs = await homeserver();
  const account = await newUser("crashbot");
  const human = await newTestUser("crash-human");
  const storePath = tempStorePath();
  const effectsFile = join(dirname(storePath), "effects.log");
  let log = "";

  async function startBot(): Promise<ChildProcess> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MATRIX_") && k !== "BOT_PREFIX" && k !== "STORE_PATH"));
    // Node itself runs the bot (not the tsx CLI, which would put the bot in a grandchild that
    // SIGKILL does not reach).
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/crash-bot.ts"], {
      cwd: ROOT,
      env: {
        ...clean,
        NIOBOT_LOG_LEVEL: "info",
        MATRIX_HOMESERVER: hs.baseUrl,
        MATRIX_USER_ID: account.userId,
        MATRIX_PASSWORD: account.password,
        STORE_PATH: storePath,
        EFFECTS_FILE: effectsFile,
        MARK_HANDLED_DELAY_MS: String(MARK_HANDLED_DELAY_MS),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bot did not get ready: ${output}`)), 60_000);
      child.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
        log += d.toString();
        if (output.includes("crash-bot ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`bot exited early (${code}): ${output}`)));
    });
    return child;
  }

  async function kill(child: ChildProcess): Promise<void> {
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }

  const answered = (ids: readonly string[]): number => {
    const wanted = new Set(ids);
    return new Set(human.seen.filter((e) => e.sender === account.userId && wanted.has(inReplyTo(e) ?? "")).map(inReplyTo)).size;
  };

  let child = await startBot();
  const commands: string[] = [];
  const tallies: string[] = [];
  try {
    const roomId = await human.createRoom([account.userId]);
    await human.waitForEvent((e) => e.type === "m.room.member" && e.state_key === account.userId && e.content.membership === "join", 60_000);

    for (let round = 0; round < ROUNDS; round++) {
      const ids: string[] = [];
      for (let i = 0; i < BURST; i++) {
        const tally = i % 4 === 3;
        const id = await human.send(roomId, tally ? `!tally ${round * 100 + i}` : `!add ${round} ${i}`);
        ids.push(id);
        if (tally) tallies.push(id);
      }
      commands.push(...ids);
      // A few answers are out: those events wait MARK_HANDLED_DELAY_MS to be recorded, so the
      // kill lands between "answer sent" and "event recorded as handled" for them.
      const enough = 2 + (round % 3);
      const deadline = Date.now() + 60_000;
      while (answered(ids) < enough) {
        assert.ok(Date.now() < deadline, `round ${round}: the bot answered only ${answered(ids)} commands\n${log}`);
        await human.syncOnce(1_000);
      }
      await kill(child);
      child = await startBot();
    }

    // Replies to what the room holds (a sync may skip events of a gappy timeline).
    const countAnswers = async (): Promise<Map<string, number>> => {
      const answers = new Map<string, number>();
      for (const e of await timeline(human, roomId)) {
        const to = inReplyTo(e);
        if (e.sender === account.userId && to !== undefined) answers.set(to, (answers.get(to) ?? 0) + 1);
      }
      return answers;
    };
    const waitAnswered = async (ids: readonly string[]): Promise<Map<string, number>> => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const answers = await countAnswers();
        const missing = ids.filter((id) => !answers.has(id));
        if (missing.length === 0) return answers;
        assert.ok(Date.now() < deadline, `never answered: ${missing.map((id) => commands.indexOf(id)).join(", ")}\n${log}`);
        await sleep(1_000);
      }
    };
    // Everything gets answered after the last restart…
    await waitAnswered(commands);
    // …and replays come from the first sync after a restart, before a command sent now is answered.
    const sentinel = await human.send(roomId, "!add 1000 1");
    const answers = await waitAnswered([...commands, sentinel]);
    const total = commands.reduce((n, id) => n + (answers.get(id) ?? 0), 0);
    const repeated = commands.filter((id) => (answers.get(id) ?? 0) > 1);
    const effects = existsSync(effectsFile) ? readFileSync(effectsFile, "utf8").split("\n").filter((l) => l !== "") : [];
    // At most once; never at all only if a kill landed between recording the start and the
    // result, which the replay then reports instead of running the effect again.
    const all = await timeline(human, roomId);
    const interrupted = tallies.filter((id) => all.some((e) => e.sender === account.userId && inReplyTo(e) === id && e.content.body === "tally interrupted"));
    const repeatedEffects = tallies.filter((id) => effects.filter((l) => l === id).length !== (interrupted.includes(id) ? 0 : 1));
    t.diagnostic(`kills: ${ROUNDS}, commands: ${commands.length}, answers: ${total}, commands answered more than once: ${repeated.length}`);
    t.diagnostic(`ctx.once effects: ${tallies.length} commands, ${effects.length} effects, interrupted: ${interrupted.length}, wrong count: ${repeatedEffects.length}`);
    assert.deepEqual(repeated, [], `commands answered more than once: ${repeated.map((id) => `${id}×${answers.get(id)}`).join(", ")}`);
    assert.equal(total, commands.length);
    const bodies = all.filter((e) => repeatedEffects.includes(inReplyTo(e) ?? "")).map((e) => String(e.content.body));
    assert.ok(interrupted.length <= 1, `a kill lands between two store writes microseconds apart rarely; ${interrupted.length} tallies were interrupted`);
    assert.deepEqual(repeatedEffects, [], `each !tally ran its ctx.once effect once (or was reported interrupted); their answers: ${bodies.join(" | ")}\n${log}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) await kill(child);
  }
});
