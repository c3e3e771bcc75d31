/* global process */
/**
 * The one piece of instrumentation inside every benchmark bot: answers the
 * harness over IPC with this process's CPU time and memory, and exits on
 * request (a clean exit lets --cpu-prof write its profile). Everything else
 * (requests, readiness, latency, peak RSS) is measured from outside.
 */
let ready = true;

/**
 * Marks the bot as still setting up until the returned function is called: a bot that answers
 * before a one-time set-up has finished (niobot with a store opens its crypto machine and makes
 * its identity after the first answer) is loaded only once it has, so the set-up is measured on
 * its own and not spread over the replies.
 */
export function settingUp() {
  ready = false;
  return () => {
    ready = true;
  };
}

export function serveReports() {
  process.on("message", (msg) => {
    if (msg === "exit") process.exit(0);
    if (typeof msg !== "object" || msg === null || msg.type !== "report") return;
    if (msg.gc) globalThis.gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ type: "report", cpuMs: (cpu.user + cpu.system) / 1000, rssMB: mem.rss / 2 ** 20, heapMB: mem.heapUsed / 2 ** 20, ready });
  });
}

/** The bot's settings, from the environment the harness sets. */
export function benchEnv() {
  return {
    homeserver: process.env.BENCH_HS ?? "",
    userId: process.env.BENCH_USER ?? "",
    accessToken: process.env.BENCH_TOKEN ?? "",
    deviceId: process.env.BENCH_DEVICE ?? "",
    storePath: process.env.BENCH_STORE || undefined,
    storeUrl: process.env.BENCH_STORE_URL || undefined,
    syncMode: process.env.BENCH_SYNC_MODE || undefined,
    recoveryKeyFile: process.env.BENCH_RECOVERY_KEY_FILE || undefined,
    // BENCH_FETCH=1: niobot sends through the global fetch (undici), its transport before node:http.
    fetch: process.env.BENCH_FETCH === "1",
  };
}
