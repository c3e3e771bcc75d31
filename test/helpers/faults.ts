/**
 * Fault injection in front of the real homeserver: a transport wrapper that
 * makes chosen requests fail (429, 5xx, dropped connections, slowness) before
 * or after they reach Synapse, or adds to what Synapse relays (a forged event a
 * remote server could have sent). Nothing here answers on the server's behalf
 * except the injected failures themselves.
 */
import type { FetchLike } from "../../src/api/http.js";

/** What to do to a matching request. */
export type Fault =
  | { kind: "status"; status: number; body?: Record<string, unknown>; headers?: Record<string, string> }
  /** Fail before the request reaches the server. */
  | { kind: "dropBefore" }
  /** Let the server process the request, then lose the response. */
  | { kind: "dropAfter" }
  | { kind: "delay"; ms: number }
  /**
   * Let the server answer, then change its JSON body: what a hostile remote server can put
   * into the parts of a response the homeserver only relays (e.g. an invite's stripped state).
   */
  | { kind: "rewrite"; json: (body: unknown) => unknown }
  /** Never answer; the request fails only when its own signal aborts (a stuck server). */
  | { kind: "hang" };

/** A rule: which requests, how many times, what fault. */
export interface FaultRule {
  method?: string;
  path: RegExp;
  times: number;
  fault: Fault;
}

/** A fetch that applies `rules` (each consumed `times` times) and forwards the rest. */
export function faultyFetch(rules: FaultRule[], inner: FetchLike = (i, init) => fetch(i, init)) {
  const log: { method: string; path: string; fault?: Fault["kind"] }[] = [];
  const impl: FetchLike = async (input, init) => {
    const method = init.method ?? "GET";
    const path = new URL(input).pathname;
    const rule = rules.find((r) => r.times > 0 && (r.method === undefined || r.method === method) && r.path.test(path));
    log.push({ method, path, fault: rule?.fault.kind });
    if (!rule) return inner(input, init);
    rule.times--;
    const fault = rule.fault;
    switch (fault.kind) {
      case "status":
        return new Response(JSON.stringify(fault.body ?? {}), {
          status: fault.status,
          headers: { "content-type": "application/json", ...fault.headers },
        });
      case "dropBefore":
        throw new TypeError("fetch failed (injected: connection refused)");
      case "dropAfter":
        await (await inner(input, init)).arrayBuffer();
        throw new TypeError("fetch failed (injected: connection reset after the server answered)");
      case "delay":
        await new Promise((r) => setTimeout(r, fault.ms));
        return inner(input, init);
      case "hang":
        return new Promise<Response>((_, reject) => {
          const signal = init.signal;
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      case "rewrite": {
        const response = await inner(input, init);
        if (!response.ok) return response;
        const body = JSON.stringify(fault.json(await response.json()));
        return new Response(body, { status: response.status, headers: { "content-type": "application/json" } });
      }
    }
  };
  return { fetch: impl, log };
}
