/**
 * Logging: a tiny pino-compatible interface, a readable console default, and
 * a wrapper that strips secrets from every line whatever logger is used.
 */
import { redactText, redactValue } from "./redact.js";

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

/**
 * Copies `fields`, removing every secret at any depth: values under secret-looking names,
 * registered secret values and token-shaped text (see `redactValue` in `logging/redact.ts`).
 */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out = redactValue(fields);
  return typeof out === "object" && out !== null && !Array.isArray(out) ? (out as Record<string, unknown>) : { fields: out };
}

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI to many terminals) and the Unicode
// line and paragraph separators.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// eslint-disable-next-line no-control-regex -- as above, sparing the newline
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED_ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeChar(c: string): string {
  return NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * Escapes every control character (newlines included) so that text from users can neither
 * forge a log line nor send escape sequences to the terminal.
 *
 * @example
 * escapeControlChars("hi\n12:00:00 INFO  forged\u001b[2J") // "hi\\n12:00:00 INFO  forged\\u001b[2J"
 */
export function escapeControlChars(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) ? escapeControlChars(JSON.stringify(value)) : escapeControlChars(value);
  if (value && typeof value === "object" && "stack" in value && typeof value.stack === "string") {
    // A stack keeps its lines, but each is indented, so none can pass for a log line.
    const stack = value.stack.replace(CONTROL_BUT_NEWLINE, escapeChar);
    return `\n${stack.split("\n").map((line) => `  ${line}`).join("\n")}`;
  }
  return escapeControlChars(JSON.stringify(value) ?? String(value));
}

/**
 * A readable console logger: `12:00:01 INFO  message key=value`.
 *
 * @param level - the least severe level printed (default `info`, or `NIOBOT_LOG_LEVEL`).
 * @param stream - where lines go (default standard error, so bot output stays clean).
 */
export function consoleLogger(
  level: LogLevel = (process.env.NIOBOT_LOG_LEVEL as LogLevel | undefined) ?? "info",
  stream?: { write(line: string): unknown },
): Logger {
  const min = level === "silent" ? Infinity : LEVELS[level] ?? LEVELS.info;
  // Standard error only once a line is written: Node makes `process.stderr` on first access (a
  // stream over a pipe or file, milliseconds of start-up), and a quiet logger may never write.
  const out = (line: string): unknown => (stream ??= process.stderr).write(line);
  const make = (name: Exclude<LogLevel, "silent">): LogFn =>
    ((a: string | Record<string, unknown>, b?: string) => {
      if (LEVELS[name] < min) return;
      const [fields, msg] = typeof a === "string" ? [undefined, a] : [a, b ?? ""];
      const time = new Date().toISOString().slice(11, 19);
      const extra = fields
        ? Object.entries(fields).map(([k, v]) => ` ${escapeControlChars(k)}=${formatValue(v)}`).join("")
        : "";
      out(`${time} ${name.toUpperCase().padEnd(5)} ${escapeControlChars(msg)}${extra}\n`);
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
      if (typeof a === "string") fn(redactText(a));
      else fn(redactFields(a), redactText(b ?? ""));
    }) as LogFn;
  return { debug: wrap(inner.debug.bind(inner)), info: wrap(inner.info.bind(inner)), warn: wrap(inner.warn.bind(inner)), error: wrap(inner.error.bind(inner)) };
}
