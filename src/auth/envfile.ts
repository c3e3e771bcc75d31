/**
 * Reading and updating `.env` files (the `KEY=value` format of dotenv and
 * `node --env-file`), keeping comments, order and unrelated keys, and keeping
 * the file private: it holds an access token.
 */
import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { chmod, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

/**
 * Parses `.env` text: `KEY=value`, `export KEY=value`, `#` comments, single
 * quotes (literal) and double quotes (`\n`, `\"`, `\\` escapes). A later key
 * wins over an earlier one, as with dotenv.
 *
 * @example
 * parseEnv('A=1\n# note\nB="two words"') // { A: "1", B: "two words" }
 */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = LINE.exec(line);
    if (m?.[1] !== undefined) out[m[1]] = parseValue(m[2] ?? "");
  }
  return out;
}

function parseValue(raw: string): string {
  const value = raw.trim();
  const quote = value[0];
  if (quote === "'" || quote === '"') {
    const end = value.indexOf(quote, 1);
    if (quote === "'" && end > 0) return value.slice(1, end);
    if (quote === '"') {
      let result = "";
      for (let i = 1; i < value.length; i++) {
        const c = value[i];
        if (c === '"') return result;
        if (c === "\\" && i + 1 < value.length) {
          const next = value[++i];
          result += next === "n" ? "\n" : next === "r" ? "\r" : next === "t" ? "\t" : next;
        } else result += c;
      }
      return result;
    }
  }
  // Unquoted: an inline comment starts at " #".
  const hash = value.search(/\s#/);
  return (hash >= 0 ? value.slice(0, hash) : value).trim();
}

/** Quotes a value only when it needs it, so plain tokens and URLs stay readable. */
export function formatEnvValue(value: string): string {
  if (/^[A-Za-z0-9_./:@+=,~!%^*?[\]{}-]*$/.test(value)) return value;
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r")}"`;
}

/**
 * Replaces or appends keys in `.env` text: the first line of a key is
 * rewritten in place, later duplicates are dropped, new keys go at the end;
 * every other line is kept as it was.
 */
export function mergeEnv(text: string, updates: Readonly<Record<string, string>>): string {
  const pending = new Map(Object.entries(updates));
  const seen = new Set<string>();
  const lines: string[] = [];
  const source = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  for (const line of source) {
    const key = LINE.exec(line)?.[1];
    if (key === undefined || !(key in updates)) {
      lines.push(line);
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`${key}=${formatEnvValue(updates[key] ?? "")}`);
    pending.delete(key);
  }
  for (const [key, value] of pending) lines.push(`${key}=${formatEnvValue(value)}`);
  return `${lines.join("\n")}\n`;
}

/** Reads and parses an env file; an absent file is empty. */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  try {
    return parseEnv(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
}

/** What {@link updateEnvFile} did. */
export interface EnvFileUpdate {
  /** Whether the file existed before. */
  existed: boolean;
  /** Its permission bits before, when it existed and allowed more than its owner (e.g. `0o644`). */
  widerModeFixed: number | undefined;
}

/**
 * Sets keys in an env file, creating it if needed, and leaves it readable by
 * its owner only (mode 0600), whatever its mode was. The new content is
 * written to a 0600 temporary file and renamed over the old one, so the
 * token is never in a world-readable file, not even for a moment, and a
 * crash leaves either the old file or the new one.
 *
 * @example
 * await updateEnvFile(".env", { MATRIX_ACCESS_TOKEN: token });
 */
export async function updateEnvFile(path: string, updates: Readonly<Record<string, string>>): Promise<EnvFileUpdate> {
  // Write through a symlink to its target rather than replacing the link.
  const target = existsSync(path) ? realpathSync(path) : path;
  let before = "";
  let mode: number | undefined;
  try {
    before = await readFile(target, "utf8");
    mode = (await stat(target)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const tmp = join(dirname(target), `.${randomBytes(6).toString("hex")}.niobot-tmp`);
  try {
    await writeFile(tmp, mergeEnv(before, updates), { mode: 0o600, flag: "wx" });
    await chmod(tmp, 0o600); // exactly 0600 whatever the umask (0277 would make it read-only)
    await rename(tmp, target);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  return { existed: mode !== undefined, widerModeFixed: mode !== undefined && (mode & 0o077) !== 0 ? mode : undefined };
}

/** The session settings of the env convention, and where each came from. */
export interface MatrixEnv {
  homeserver: string | undefined;
  userId: string | undefined;
  accessToken: string | undefined;
  deviceId: string | undefined;
  /** `MATRIX_REFRESH_TOKEN`, when the server issues expiring tokens. */
  refreshToken: string | undefined;
  /** `MATRIX_TOKEN_EXPIRES_AT` (an ISO date) as ms since the epoch. */
  expiresAt: number | undefined;
  /** `MATRIX_OAUTH_ISSUER` and `MATRIX_OAUTH_CLIENT_ID`, for sessions from an OAuth 2.0 server. */
  oauth: { issuer: string; clientId: string } | undefined;
  /** Per key: `"environment"` or the env file's path. */
  sources: Record<string, string>;
}

/**
 * Reads `MATRIX_HOMESERVER`, `MATRIX_USER_ID`, `MATRIX_ACCESS_TOKEN` and
 * `MATRIX_DEVICE_ID` from the env file, with variables already set in the
 * environment taking precedence (the rule of dotenv and `node --env-file`).
 */
export async function loadMatrixEnv(envFile: string, env: NodeJS.ProcessEnv = process.env): Promise<MatrixEnv> {
  const file = await readEnvFile(envFile);
  const sources: Record<string, string> = {};
  const pick = (key: string): string | undefined => {
    const fromEnv = env[key]?.trim();
    if (fromEnv) {
      sources[key] = "environment";
      return fromEnv;
    }
    const fromFile = file[key]?.trim();
    if (fromFile) sources[key] = envFile;
    return fromFile || undefined;
  };
  return {
    homeserver: pick("MATRIX_HOMESERVER"),
    userId: pick("MATRIX_USER_ID"),
    accessToken: pick("MATRIX_ACCESS_TOKEN"),
    deviceId: pick("MATRIX_DEVICE_ID"),
    refreshToken: pick("MATRIX_REFRESH_TOKEN"),
    expiresAt: parseExpiry(pick("MATRIX_TOKEN_EXPIRES_AT")),
    oauth: oauthOf(pick("MATRIX_OAUTH_ISSUER"), pick("MATRIX_OAUTH_CLIENT_ID")),
    sources,
  };
}

/** `MATRIX_TOKEN_EXPIRES_AT`: an ISO date (or ms since the epoch); undefined when absent or unreadable. */
export function parseExpiry(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function oauthOf(issuer: string | undefined, clientId: string | undefined): { issuer: string; clientId: string } | undefined {
  return issuer && clientId ? { issuer, clientId } : undefined;
}
