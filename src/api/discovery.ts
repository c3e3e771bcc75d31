/**
 * Homeserver discovery from a server name, per the spec's
 * "Well-known URIs" section: `/.well-known/matrix/client`, then a check that
 * the found base URL really speaks the client-server API.
 */
import { HttpClient, type FetchLike } from "./http.js";
import { MatrixError } from "./errors.js";
import type { VersionsResponse, WellKnownResponse } from "./types.js";

/** Discovery failed; `message` says why in words an operator can act on. */
export class DiscoveryError extends Error {
  override readonly name = "DiscoveryError";
}

/** What discovery found. */
export interface DiscoveryResult {
  /** Base URL of the client-server API, without a trailing slash. */
  baseUrl: string;
  /** Whether `.well-known` named it (false: the server name itself was used). */
  fromWellKnown: boolean;
  /** Spec versions the server supports. */
  versions: string[];
}

/** Options of {@link discoverHomeserver}. */
export interface DiscoveryOptions {
  fetch?: FetchLike;
  signal?: AbortSignal;
  /** Scheme used for a bare server name (default `https`). */
  scheme?: "https" | "http";
}

/**
 * Checks the `m.homeserver.base_url` a `.well-known` document at `origin` names, and returns it
 * without a trailing slash. A lookup made over `https` must not lead to plain `http`: whoever
 * can tamper with the document (or a stale delegation) would otherwise send the access token
 * in clear text. Plain `http` stays possible when the user asked for it (an `http://` URL or
 * `scheme: "http"`), as for local development.
 *
 * @throws {DiscoveryError} for an invalid URL, a scheme other than http(s), or a downgrade.
 * @example
 * wellKnownBaseUrl("https://example.org", "https://matrix.example.org/") // "https://matrix.example.org"
 */
export function wellKnownBaseUrl(origin: string, found: string): string {
  let url: URL;
  try {
    url = new URL(found);
  } catch {
    throw new DiscoveryError(`.well-known names an invalid homeserver URL: ${found}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new DiscoveryError(`.well-known names an invalid homeserver URL: ${found}`);
  if (url.protocol === "http:" && !/^http:\/\//i.test(origin))
    throw new DiscoveryError(
      `${origin}/.well-known/matrix/client names the insecure URL ${found}; refusing to downgrade from https to http (pass the http:// URL directly if you really mean it)`,
    );
  return found.replace(/\/+$/, "");
}

/**
 * Finds the client-server API base URL of a server name (`example.org`), or
 * checks a URL given directly (`https://matrix.example.org`). A `.well-known` found over https
 * that names a plain `http://` base URL is refused (see {@link wellKnownBaseUrl}).
 *
 * @example
 * const { baseUrl } = await discoverHomeserver("matrix.org");
 */
export async function discoverHomeserver(serverNameOrUrl: string, options: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const input = serverNameOrUrl.trim();
  if (input === "") throw new DiscoveryError("no server name given");
  const isUrl = /^https?:\/\//i.test(input);
  if (!isUrl && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(input))
    throw new DiscoveryError(`"${input}" is not a valid server name (expected e.g. example.org or example.org:8448)`);
  const origin = isUrl ? input.replace(/\/+$/, "") : `${options.scheme ?? "https"}://${input}`;

  let baseUrl = origin;
  let fromWellKnown = false;
  const wellKnownClient = new HttpClient({ baseUrl: origin, fetch: options.fetch, maxTransientRetries: 1, requestTimeoutMs: 15_000 });
  try {
    const wk = await wellKnownClient.request<WellKnownResponse>({ method: "GET", path: "/.well-known/matrix/client", auth: false, signal: options.signal });
    const found = wk["m.homeserver"]?.base_url;
    if (typeof found !== "string" || found === "")
      throw new DiscoveryError(`${origin}/.well-known/matrix/client has no m.homeserver.base_url`);
    baseUrl = wellKnownBaseUrl(origin, found);
    fromWellKnown = true;
  } catch (error) {
    if (error instanceof DiscoveryError) throw error;
    if (options.signal?.aborted) throw error;
    // 404, an unreachable origin or a non-JSON page: no delegation, so the
    // server name itself is the candidate (the spec's IGNORE). It is checked below.
    if (error instanceof MatrixError && error.errcode === "M_NOT_JSON")
      throw new DiscoveryError(`${origin}/.well-known/matrix/client is not valid JSON`);
  }

  const client = new HttpClient({ baseUrl, fetch: options.fetch, maxTransientRetries: 1, requestTimeoutMs: 15_000 });
  try {
    const versions = await client.request<VersionsResponse>({ method: "GET", path: "/_matrix/client/versions", auth: false, signal: options.signal });
    if (!Array.isArray(versions.versions)) throw new Error("no versions list");
    return { baseUrl, fromWellKnown, versions: versions.versions };
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new DiscoveryError(`${baseUrl} does not answer as a Matrix homeserver (${reason})`, { cause: error });
  }
}
