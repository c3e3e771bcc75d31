/**
 * The command line of `npm run bench`: `key=value` words, no flags, so that
 * `npm run bench -- rooms=10000` passes straight through npm.
 */

/** The bots the benchmark can run, in table order (the floor first: ratios are to it). */
export const BOT_KINDS = ["floor", "matrix-bot-sdk", "niobot", "niobot-sliding", "niobot-store", "niobot-pg"] as const;
/** One of {@link BOT_KINDS}. */
export type BotKind = (typeof BOT_KINDS)[number];

/** A load: how many users ping the bot, how often, and how many rooms the bot is in at start. */
export interface Scenario {
  /** Shown in the table and written to the results file. */
  name: string;
  /** Users, each in their own room with the bot, pinging one after another's reply. */
  users: number;
  /** `!ping`s each user sends, waiting for the reply before the next. */
  pingsPerUser: number;
  /** Rooms the bot is joined to at start (the users' rooms included). */
  rooms: number;
}

/** The named loads of the table. */
export const NAMED_SCENARIOS: Record<string, Scenario> = {
  "1user": { name: "1user", users: 1, pingsPerUser: 30, rooms: 10 },
  "20users": { name: "20users", users: 20, pingsPerUser: 25, rooms: 200 },
};

/** Everything a benchmark run is told. */
export interface BenchOptions {
  scenarios: Scenario[];
  bots: BotKind[];
  /** Runs of each bot in each scenario, interleaved. */
  runs: number;
  /** The JSON-lines file one line per run is appended to. */
  out: string;
  /** Parallel requests while creating rooms. */
  concurrency: number;
  /** Directory for `--cpu-prof` profiles of the bots; none when absent. */
  profDir?: string;
  /** Measure the time to import each bot's package in a fresh process (the `import` scenario). */
  imports: boolean;
  /**
   * Keep the homeserver's data here and reuse it: accounts and rooms made by an earlier run with the
   * same DIR are logged in and reused, not made again (a 10 000-room set-up takes many minutes).
   */
  hsData?: string;
  /** Print usage and stop. */
  help: boolean;
}

/** The usage text of `npm run bench -- help`. */
export const USAGE = `npm run bench [-- key=value ...]
  scenarios=import,1user,20users   (default all three) import = process start to the bot's
                            package imported, in a fresh process; 1user = 1 user x 30 pings,
                            bot in 10 rooms; 20users = 20 users x 25 pings, bot in 200 rooms
  rooms=N                   the start-up and memory scenario: bot in N rooms, 1 user x 10 pings.
                            Alone, it runs on its own (npm run bench -- rooms=10000)
  users=N pings=N           override users / pings per user of every selected scenario
  bots=floor,matrix-bot-sdk,niobot,niobot-sliding,niobot-store,niobot-pg   (default all; "sdk" = matrix-bot-sdk;
                            niobot-sliding = niobot with syncMode "sliding", no store;
                            niobot-pg = storeUrl on a throwaway PostgreSQL, or BENCH_POSTGRES_URL)
  runs=N                    runs of each bot per scenario, interleaved (default 2)
  out=FILE                  results, one JSON line per run (default bench/results.jsonl)
  concurrency=N             parallel createRoom/join calls during set-up (default 8)
  prof=DIR                  write --cpu-prof profiles of the bots to DIR
  hsdata=DIR                keep Synapse's data in DIR and reuse it: a later run with the same DIR
                            logs the scenario's accounts in and reuses their rooms (a 10000-room
                            set-up is made once). Run on a copy (cp -a) to keep a data set pristine`;

const BOT_ALIASES: Record<string, BotKind> = { sdk: "matrix-bot-sdk", bare: "floor" };

function positiveInt(key: string, value: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new Error(`${key}= wants a positive whole number, got "${value}"`);
  return Number(value);
}

/** Parses the `key=value` words; throws with a readable message on anything unknown. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const kv = new Map<string, string>();
  let help = false;
  for (const word of argv) {
    if (word === "help" || word === "--help" || word === "-h") {
      help = true;
      continue;
    }
    const eq = word.indexOf("=");
    if (eq <= 0) throw new Error(`expected key=value, got "${word}"`);
    kv.set(word.slice(0, eq), word.slice(eq + 1));
  }
  const known = new Set(["scenarios", "rooms", "users", "pings", "bots", "runs", "out", "concurrency", "prof", "hsdata"]);
  for (const key of kv.keys()) if (!known.has(key)) throw new Error(`unknown option "${key}="`);

  const rooms = kv.has("rooms") ? positiveInt("rooms", kv.get("rooms") ?? "") : undefined;
  const scenarioNames = kv.get("scenarios")?.split(",").filter(Boolean) ?? (rooms === undefined ? ["import", ...Object.keys(NAMED_SCENARIOS)] : []);
  const imports = scenarioNames.includes("import");
  let scenarios: Scenario[] = scenarioNames.filter((n) => n !== "import").map((name) => {
    const s = NAMED_SCENARIOS[name];
    if (!s) throw new Error(`unknown scenario "${name}" (known: import, ${Object.keys(NAMED_SCENARIOS).join(", ")})`);
    return { ...s };
  });
  if (rooms !== undefined) scenarios.push({ name: `rooms${rooms}`, users: 1, pingsPerUser: 10, rooms });
  const users = kv.has("users") ? positiveInt("users", kv.get("users") ?? "") : undefined;
  const pings = kv.has("pings") ? positiveInt("pings", kv.get("pings") ?? "") : undefined;
  scenarios = scenarios.map((s) => {
    const u = users ?? s.users;
    // Every user has a room of their own with the bot, so there are at least as many rooms as users.
    return { ...s, users: u, pingsPerUser: pings ?? s.pingsPerUser, rooms: Math.max(s.rooms, u) };
  });
  if (scenarios.length === 0 && !imports) throw new Error("no scenario selected");

  const bots = (kv.get("bots")?.split(",").filter(Boolean) ?? [...BOT_KINDS]).map((b) => {
    const kind = BOT_ALIASES[b] ?? b;
    if (!(BOT_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown bot "${b}" (known: ${BOT_KINDS.join(", ")})`);
    return kind as BotKind;
  });
  // Table order, whatever order they were named in, and each once.
  const ordered = BOT_KINDS.filter((k) => bots.includes(k));
  return {
    scenarios,
    bots: ordered,
    runs: kv.has("runs") ? positiveInt("runs", kv.get("runs") ?? "") : 2,
    out: kv.get("out") || "bench/results.jsonl",
    concurrency: kv.has("concurrency") ? positiveInt("concurrency", kv.get("concurrency") ?? "") : 8,
    profDir: kv.get("prof") || undefined,
    hsData: kv.get("hsdata") || undefined,
    imports,
    help,
  };
}

/**
 * The order bots run in for run `run` (0-based): rotated by one each run, so
 * that no bot always comes first after set-up or right after a heavy one.
 */
export function runOrder<T>(bots: readonly T[], run: number): T[] {
  if (bots.length === 0) return [];
  const k = run % bots.length;
  return [...bots.slice(k), ...bots.slice(0, k)];
}
