/**
 * Shared instrumentation for benchmark bots: counts requests through an
 * injected fetch and answers the harness's "report" message over IPC with
 * CPU time, memory and request counts.
 */
export const requests = new Map<string, number>();

/** A fetch that counts requests per `METHOD /path-shape`. */
export const countedFetch = (input: string, init: RequestInit): Promise<Response> => {
  const path = new URL(input).pathname.replace(/\/(![^/]+|\$[^/]+|@[^/]+)(?=\/|$)/g, "/*").replace(/\/send\/([^/]+)\/[^/]+$/, "/send/$1/*");
  const key = `${init.method ?? "GET"} ${path}`;
  requests.set(key, (requests.get(key) ?? 0) + 1);
  return fetch(input, init);
};

/** Answers `report` messages from the harness. */
export function serveReports(): void {
  process.on("message", (msg: unknown) => {
    // A clean exit lets --cpu-prof write its profile.
    if (msg === "exit") process.exit(0);
    if (msg !== "report") return;
    (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({
      cpuMs: (cpu.user + cpu.system) / 1000,
      heapUsedMB: mem.heapUsed / 2 ** 20,
      rssMB: mem.rss / 2 ** 20,
      requests: Object.fromEntries(requests),
    });
  });
}
