/**
 * Shared-secret user registration against Synapse's admin API.
 *
 * Works for the local dev homeserver and for any external Synapse whose
 * `registration_shared_secret` is known (MATRIX_TEST_HOMESERVER +
 * MATRIX_TEST_REGISTRATION_SECRET), so tests never need open registration.
 */
import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

/** A freshly registered account, already logged in on one device. */
export interface RegisteredUser {
  /** Full Matrix user id, e.g. `@alice:localhost`. */
  userId: string;
  /** Access token for {@link RegisteredUser.deviceId}. Treat as a secret: never log it. */
  accessToken: string;
  /** Device created by the registration. */
  deviceId: string;
  /** The password the account was registered with, for password-login tests. */
  password: string;
}

/** Options for {@link registerWithSharedSecret}. */
export interface SharedSecretRegisterOptions {
  /** Make the user a server admin. Default false. */
  admin?: boolean;
  /** Initial display name; Synapse defaults it to the localpart. */
  displayName?: string;
  /** Injected fetch, for tests. Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/**
 * Raised when the homeserver refuses a registration. Carries the HTTP status
 * and Matrix errcode (e.g. `M_USER_IN_USE`) so callers can branch on them;
 * the message never contains the shared secret, MAC or password.
 */
export class RegistrationError extends Error {
  override readonly name = "RegistrationError";
  constructor(
    message: string,
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    /** Matrix errcode from the response body, when there was one. */
    readonly errcode: string | undefined,
  ) {
    super(message);
  }
}

const REGISTER_PATH = "/_synapse/admin/v1/register";
/** 429 retries: enough to ride out a burst on a server with default rate limits. */
const MAX_ATTEMPTS = 6;
const MAX_RETRY_DELAY_MS = 5_000;

interface MatrixErrorBody {
  errcode?: unknown;
  error?: unknown;
  retry_after_ms?: unknown;
}

/**
 * Register `localpart` on a Synapse homeserver via the shared-secret admin API
 * (`GET` a nonce, then `POST` with an HMAC-SHA1 over
 * `nonce\0localpart\0password\0admin|notadmin` keyed by the secret).
 *
 * Retries briefly on HTTP 429, honouring `retry_after_ms`. A fresh nonce is
 * fetched for every attempt because Synapse burns a nonce even when the
 * request fails.
 *
 * @param baseUrl - Client-server API base, e.g. `http://127.0.0.1:8008`.
 * @param secret - The server's `registration_shared_secret`.
 * @param localpart - Desired localpart; Synapse lower-cases it.
 * @param password - Password for the new account.
 * @throws {@link RegistrationError} when the server refuses (e.g. the name is taken).
 */
export async function registerWithSharedSecret(
  baseUrl: string,
  secret: string,
  localpart: string,
  password: string,
  opts: SharedSecretRegisterOptions = {},
): Promise<RegisteredUser> {
  const doFetch = opts.fetch ?? fetch;
  const url = baseUrl.replace(/\/+$/, "") + REGISTER_PATH;
  const admin = opts.admin ?? false;
  const what = `Registering "${localpart}" on ${baseUrl}`;

  for (let attempt = 1; ; attempt++) {
    const nonceRes = await request(doFetch, url, undefined, what);
    if (nonceRes.status === 429 && attempt < MAX_ATTEMPTS) {
      await sleep(retryDelay(nonceRes.body, attempt));
      continue;
    }
    if (nonceRes.status !== 200) throw failure(what, nonceRes.status, nonceRes.body);
    const nonce = (nonceRes.body as { nonce?: unknown }).nonce;
    if (typeof nonce !== "string") {
      throw new RegistrationError(`${what} failed: server returned no nonce`, nonceRes.status, undefined);
    }

    const mac = createHmac("sha1", secret)
      .update(`${nonce}\0${localpart}\0${password}\0${admin ? "admin" : "notadmin"}`, "utf8")
      .digest("hex");
    const body: Record<string, unknown> = { nonce, username: localpart, password, admin, mac };
    if (opts.displayName !== undefined) body.displayname = opts.displayName;

    const res = await request(doFetch, url, body, what);
    if (res.status === 429 && attempt < MAX_ATTEMPTS) {
      await sleep(retryDelay(res.body, attempt));
      continue;
    }
    if (res.status !== 200) throw failure(what, res.status, res.body);
    const { user_id, access_token, device_id } = res.body as Record<string, unknown>;
    if (typeof user_id !== "string" || typeof access_token !== "string" || typeof device_id !== "string") {
      throw new RegistrationError(`${what} failed: malformed response`, res.status, undefined);
    }
    return { userId: user_id, accessToken: access_token, deviceId: device_id, password };
  }
}

/** One JSON round-trip; network failures become a RegistrationError with status 0. */
async function request(
  doFetch: typeof fetch,
  url: string,
  body: Record<string, unknown> | undefined,
  what: string,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await doFetch(url, {
      method: body ? "POST" : "GET",
      headers: body ? { "content-type": "application/json" } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    // Deliberately not including the request body: it holds the password and MAC.
    const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new RegistrationError(`${what} failed: cannot reach homeserver (${cause})`, 0, undefined);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed };
}

function failure(what: string, status: number, body: unknown): RegistrationError {
  const { errcode, error } = (body ?? {}) as MatrixErrorBody;
  const code = typeof errcode === "string" ? errcode : undefined;
  let hint = "";
  if (status === 404) hint = " (is this a Synapse server with the admin API exposed?)";
  else if (status === 403 && typeof error === "string" && error.includes("HMAC")) {
    hint = " (wrong registration shared secret?)";
  } else if (status === 400 && typeof error === "string" && error.includes("not enabled")) {
    hint = " (the server has no registration_shared_secret configured)";
  }
  const detail = [code, typeof error === "string" ? error : undefined].filter(Boolean).join(": ");
  return new RegistrationError(`${what} failed: HTTP ${status}${detail ? ` ${detail}` : ""}${hint}`, status, code);
}

function retryDelay(body: unknown, attempt: number): number {
  const hinted = (body as MatrixErrorBody | undefined)?.retry_after_ms;
  const ms = typeof hinted === "number" && hinted > 0 ? hinted : 250 * 2 ** attempt;
  return Math.min(ms, MAX_RETRY_DELAY_MS);
}
