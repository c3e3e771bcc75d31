/**
 * A recording transport for unit tests of the core loops (the outbox, the sync engine): an
 * injected `fetch` that logs every request and answers from a script the test writes. The
 * loops run on the real `MatrixApi` and `HttpClient` above it, so retries, rate-limit waits and
 * aborts are the real code. Anything that involves the homeserver's behaviour is tested
 * against the real Synapse instead (`test/integration/`).
 */
import type { FetchLike } from "../../src/api/http.js";

/** One request the transport saw. */
export interface Recorded {
  readonly method: string;
  /** Path below the base URL, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly signal: AbortSignal | undefined;
}

/** What a script answers: a status and JSON body, or a promise of one (to hold a request open). */
export interface Answer {
  status?: number;
  body?: unknown;
}

export type Script = (request: Recorded, index: number) => Answer | Promise<Answer>;

/** A fetch that records each request and answers it with `script`. */
export function fakeTransport(script: Script): { fetch: FetchLike; requests: Recorded[] } {
  const requests: Recorded[] = [];
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const text = typeof init.body === "string" ? init.body : undefined;
    const request: Recorded = {
      method: init.method ?? "GET",
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      body: text === undefined ? undefined : JSON.parse(text),
      signal: init.signal ?? undefined,
    };
    const index = requests.push(request) - 1;
    const answer = await abortable(Promise.resolve(script(request, index)), request.signal);
    return new Response(JSON.stringify(answer.body ?? {}), { status: answer.status ?? 200, headers: { "content-type": "application/json" } });
  };
  return { fetch, requests };
}

/** Rejects as a real fetch does when the request's signal aborts while the answer is pending. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new DOMException("aborted", "AbortError"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A promise the test resolves when it chooses (holds a request open). */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
