/**
 * Writing a renewed token pair where the next start reads it: the store
 * (one transaction) and, when the bot was started from an env file the CLI
 * wrote, that file too.
 */
import { createHash } from "node:crypto";
import { readEnvFile, updateEnvFile } from "./envfile.js";
import type { Store, StoredLogin } from "../storage/store.js";
import type { TokenSet } from "./tokens.js";

/** The env keys a token pair is kept under (written by `niobot login`, read by the examples). */
export const TOKEN_ENV_KEYS = {
  accessToken: "MATRIX_ACCESS_TOKEN",
  refreshToken: "MATRIX_REFRESH_TOKEN",
  expiresAt: "MATRIX_TOKEN_EXPIRES_AT",
} as const;

/** A short SHA-256 of a token: enough to recognise it, useless to an attacker. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 32);
}

/** The env file entries of a token pair (`MATRIX_TOKEN_EXPIRES_AT` as an ISO date). */
export function tokenEnvEntries(tokens: TokenSet): Record<string, string> {
  return {
    [TOKEN_ENV_KEYS.accessToken]: tokens.accessToken,
    [TOKEN_ENV_KEYS.refreshToken]: tokens.refreshToken ?? "",
    [TOKEN_ENV_KEYS.expiresAt]: tokens.expiresAt === undefined ? "" : new Date(tokens.expiresAt).toISOString(),
  };
}

/** Options of {@link tokenPersister}. */
export interface PersistOptions {
  store: Store;
  /** The login the tokens belong to (user, device, homeserver, origin, OAuth client). */
  login: Omit<StoredLogin, "accessToken" | "refreshToken" | "expiresAt">;
  /**
   * An env file to keep up to date. It is only rewritten while its
   * `MATRIX_ACCESS_TOKEN` is the token being replaced, i.e. while the file
   * holds this session: a file that was since given another login is left alone.
   */
  envFile?: string;
}

/**
 * Returns the `persist` step of a session: store first (one transaction:
 * `setLogin` writes one row), then the env file (written to a temporary file
 * and renamed, so it is either old or new). Both happen before the new pair is used.
 */
export function tokenPersister(o: PersistOptions, initial: TokenSet): (tokens: TokenSet) => Promise<void> {
  let previous = initial.accessToken;
  return async (tokens) => {
    await o.store.setLogin({ ...o.login, ...tokens });
    if (o.envFile) {
      const current = (await readEnvFile(o.envFile))[TOKEN_ENV_KEYS.accessToken];
      if (current === previous) await updateEnvFile(o.envFile, tokenEnvEntries(tokens));
    }
    previous = tokens.accessToken;
  };
}
