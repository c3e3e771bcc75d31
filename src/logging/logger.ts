/**
 * Logging: a tiny pino-compatible interface, a readable console default, and
 * a wrapper that strips secrets from every line whatever logger is used.
 */
import { redactPath } from "../api/errors.js";

/** A log method: `log("text")` or, pino style, `log({ roomId }, "text")`. */
export interface LogFn {
  (msg: string): void;
  (fields: Record<string, unknown>, msg: string): void;
}

/**
 * What niobot needs from a logger. A pino logger satisfies it as is.
 *
 * @example
 * import pino from "pino";
 * new NioBot({ ..., logger: pino() });
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVELS: Record<Exclude<LogLevel, "silent">, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_KEYS = /^(access_?token|refresh_?token|password|passphrase|recovery_?key|registration_?secret|secret|token|authorization)$/i;

/** Copies `fields`, replacing every secret-looking value with `<redacted>`. */
export function redactFields(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET_KEYS.test(key)) out[key] = "<redacted>";
    else if (typeof value === "string") out[key] = redactPath(value);
    else if (value instanceof Error) out[key] = { name: value.name, message: redactPath(value.message), stack: value.stack && redactPath(value.stack) };
    else if (value && typeof value === "object" && !Array.isArray(value) && depth < 3)
      out[key] = redactFields(value as Record<string, unknown>, depth + 1);
    else out[key] = value;
  }
  return out;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value && typeof value === "object" && "stack" in value && typeof value.stack === "string")
    return `\n${value.stack}`;
  return JSON.stringify(value);
}

/**
 * A readable console logger: `12:00:01 INFO  message key=value`.
 *
 * @param level - the least severe level printed (default `info`, or `NIOBOT_LOG_LEVEL`).
 * @param stream - where lines go (default standard error, so bot output stays clean).
 */
export function consoleLogger(
  level: LogLevel = (process.env.NIOBOT_LOG_LEVEL as LogLevel | undefined) ?? "info",
  stream: { write(line: string): unknown } = process.stderr,
): Logger {
  const min = level === "silent" ? Infinity : LEVELS[level] ?? LEVELS.info;
  const make = (name: Exclude<LogLevel, "silent">): LogFn =>
    ((a: string | Record<string, unknown>, b?: string) => {
      if (LEVELS[name] < min) return;
      const [fields, msg] = typeof a === "string" ? [undefined, a] : [a, b ?? ""];
      const time = new Date().toISOString().slice(11, 19);
      const extra = fields
        ? Object.entries(fields).map(([k, v]) => ` ${k}=${formatValue(v)}`).join("")
        : "";
      stream.write(`${time} ${name.toUpperCase().padEnd(5)} ${msg}${extra}\n`);
    }) as LogFn;
  return { debug: make("debug"), info: make("info"), warn: make("warn"), error: make("error") };
}

/** A logger that drops everything. */
export const silentLogger: Logger = consoleLogger("silent");

/**
 * Wraps any logger so that no line it receives can carry a token or password,
 * whatever the caller passed in.
 */
export function redactingLogger(inner: Logger): Logger {
  const wrap = (fn: LogFn): LogFn =>
    ((a: string | Record<string, unknown>, b?: string) => {
      if (typeof a === "string") fn(redactPath(a));
      else fn(redactFields(a), redactPath(b ?? ""));
    }) as LogFn;
  return { debug: wrap(inner.debug.bind(inner)), info: wrap(inner.info.bind(inner)), warn: wrap(inner.warn.bind(inner)), error: wrap(inner.error.bind(inner)) };
}
