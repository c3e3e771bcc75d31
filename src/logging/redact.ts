/**
 * Secret redaction for every log line and error message niobot writes.
 *
 * Three layers, because no single one is enough:
 * - the exact secrets the bot holds (access tokens, passwords, passphrases) are registered
 *   with {@link registerSecret} when it gets them, and removed wherever they appear, whatever
 *   their shape (other homeservers' tokens have no recognisable prefix);
 * - values under secret-looking names (`refresh_token`, `new_password`, `MATRIX_ACCESS_TOKEN`,
 *   `Authorization`, `recovery_key`, ...) are removed, in objects at any depth and in text
 *   (`key=value`, `"key": "value"`, query strings);
 * - token-shaped text (`syt_...`, `Bearer ...`) is removed even when nobody registered it.
 *
 * Everything here is linear in the size of its input: literal searches, and regular expressions
 * whose every repetition is bounded or cannot overlap with what follows it. Objects are walked
 * once each (shared references reuse their result; cycles become `"[Circular]"`).
 *
 * @module
 */

/** What a removed secret is replaced with. */
export const REDACTED = "<redacted>";

/** Shorter values are not registered: replacing every "abc" in every line would wreck logs. */
const MIN_SECRET_LENGTH = 4;
/** Bound on registered secrets (oldest forgotten first): tokens rotate, the set must not grow forever. */
const MAX_SECRETS = 64;
/** Deeper values are dropped rather than walked: a hostile structure must not overflow the stack. */
const MAX_DEPTH = 64;

/** Registered secrets, in every encoding they are likely to be logged in, oldest first. */
const known = new Map<string, string[]>();

/**
 * Registers a secret (a token, a password, a passphrase) so that it is removed from every log
 * line and error message from now on, wherever it appears. Values shorter than 4 characters
 * are ignored. niobot registers what it is given or receives itself (access tokens, the login
 * password, crypto passphrases); register your own secrets the same way.
 *
 * @example
 * registerSecret(process.env.WEBHOOK_SECRET);
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  // The same secret inside a URL or a JSON string is escaped; remove those forms too.
  const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
  known.delete(value);
  known.set(value, [...forms].sort((a, b) => b.length - a.length));
  if (known.size > MAX_SECRETS) known.delete(known.keys().next().value as string);
}

/** Forgets a registered secret (say, a token that was logged out). */
export function forgetSecret(value: string): void {
  known.delete(value);
}

/**
 * Whether a field name looks like it holds a secret: any name containing token, password,
 * secret, passphrase, authorization, cookie, or a key-ish name (recovery_key, private_key,
 * api_key, access_key, pickle_key), in any case and with any prefix or suffix.
 *
 * @example
 * isSecretName("MATRIX_ACCESS_TOKEN") // true
 * isSecretName("roomId") // false
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

const SECRET_NAME = /token|passw(?:or)?d|secret|passphrase|authori[sz]ation|cookie|(?:recovery|private|api|access|pickle|signing|backup)[_-]?key|^sid$/i;
const SECRET_NAME_ANYWHERE = /token|passw(?:or)?d|secret|passphrase|authori[sz]ation|cookie|key|\bsid\b/i;

/** Token formats with a known prefix: Synapse (syt_, syr_) and MAS (mat_, mar_, mct_, mcr_). */
const PREFIXED_TOKEN = /\b(?:syt|syr|mat|mar|mct|mcr)_[A-Za-z0-9_]+/g;
/** Credentials after the bearer auth scheme (`Authorization: Bearer ...`). */
const AUTH_SCHEME = /\b(Bearer)(\s+)[A-Za-z0-9._~+/=-]+/gi;
/** Query parameters: `?name=value` / `&name=value`. */
const QUERY_PARAM = /([?&])([\w.~%+[\]-]{1,64})=([^&#\s]*)/g;
/**
 * `name=value`, `name: value`, `"name": "value"`, and the last once more inside a JSON string
 * (`\"name\":\"value\"`). The name starts at a word boundary (the
 * lookbehind), so a long run of word characters is tried once, not from every position.
 * A quoted value ends at any quote, escaped or not, and an unquoted one at `:` or `=`.
 */
const NAMED_VALUE =
  /(?<![\w-])([\w-]{1,64})(\\?["']?[ \t]{0,8}[:=][ \t]{0,8})(\\"(?:[^"\\\n]|\\[^"\n]){0,1024}(?:\\")?|"(?:[^"\\\n]|\\[^"\n]){0,1024}"?|'(?:[^'\\\n]|\\[^'\n]){0,1024}'?|[^\s"'&,;:={}[\]()]+)/g;

/**
 * Removes secrets from a piece of text: registered secret values, values under secret-looking
 * names, query parameters with such names, bearer credentials and prefixed tokens.
 *
 * @example
 * redactText("GET /x?access_token=abc&since=s1") // "GET /x?access_token=<redacted>&since=s1"
 */
export function redactText(text: string): string {
  let out = text;
  for (const forms of known.values()) for (const form of forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
  out = out.replace(AUTH_SCHEME, `$1$2${REDACTED}`).replace(PREFIXED_TOKEN, REDACTED);
  // Most lines name no secret at all: one linear scan spares them the name=value passes.
  if (!SECRET_NAME_ANYWHERE.test(out)) return out;
  return redactNamedValues(out.replace(QUERY_PARAM, (all, sep: string, name: string) => (isSecretName(name) ? `${sep}${name}=${REDACTED}` : all)));
}

/**
 * The `name=value` pass. The value of a harmless name is not consumed (scanning goes on right
 * after the name), so `note=token:x` still finds `token`. Stays linear: a value ends where the
 * next name's separator is, so value scans do not overlap, and quoted ones are bounded.
 */
function redactNamedValues(text: string): string {
  let out = "";
  let copied = 0;
  NAMED_VALUE.lastIndex = 0;
  for (let m = NAMED_VALUE.exec(text); m !== null; m = NAMED_VALUE.exec(text)) {
    const [all, name = "", between = "", value = ""] = m;
    if (!isSecretName(name)) {
      NAMED_VALUE.lastIndex = m.index + name.length;
      continue;
    }
    const open = value.startsWith('\\"') ? '\\"' : value[0] === '"' || value[0] === "'" ? value[0] : "";
    const close = open !== "" && value.length > open.length && value.endsWith(open) ? open : "";
    out += `${text.slice(copied, m.index)}${name}${between}${open}${REDACTED}${close}`;
    copied = m.index + all.length;
  }
  return out + text.slice(copied);
}

/** A value under a secret-looking name that is worth hiding (flags and empties are kept, for reading logs). */
function hides(value: unknown): boolean {
  return value !== undefined && value !== null && typeof value !== "boolean";
}

/**
 * A copy of any value with every secret removed: strings as in {@link redactText}, values
 * under secret-looking names replaced at any depth (objects, arrays, maps, sets, errors with
 * their causes), byte arrays summarised, cycles cut. Never throws.
 *
 * @example
 * redactValue({ list: [{ refresh_token: "r" }] }) // { list: [{ refresh_token: "<redacted>" }] }
 */
export function redactValue(value: unknown): unknown {
  try {
    return walk(value, 0, new Map());
  } catch {
    // A throwing getter or proxy: say so rather than risk printing what could not be checked.
    return "[unredactable value]";
  }
}

const IN_PROGRESS = Symbol("in progress");

function walk(value: unknown, depth: number, memo: Map<object, unknown>): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value !== "object" || value === null) return value;
  if (memo.has(value)) {
    const done = memo.get(value);
    return done === IN_PROGRESS ? "[Circular]" : done;
  }
  if (depth >= MAX_DEPTH) return "[Too deep]";
  memo.set(value, IN_PROGRESS);
  const result = walkObject(value, depth + 1, memo);
  memo.set(value, result);
  return result;
}

function walkObject(value: object, depth: number, memo: Map<object, unknown>): unknown {
  if (value instanceof Date) return value;
  if (value instanceof URL) return redactText(value.href);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return `[${value.constructor.name} of ${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((item) => walk(item, depth, memo));
  if (value instanceof Set) return [...value].map((item) => walk(item, depth, memo));
  const out: Record<string, unknown> = {};
  const put = (name: string, item: unknown): void => {
    out[name] = isSecretName(name) && hides(item) ? REDACTED : walk(item, depth, memo);
  };
  if (value instanceof Map) {
    for (const [name, item] of value) put(typeof name === "string" ? name : String(walk(name, depth, memo)), item);
    return out;
  }
  if (value instanceof Error) {
    // Message and stack are not enumerable; a pino serializer or the console logger wants them.
    out.name = value.name;
    out.message = redactText(value.message);
    if (typeof value.stack === "string") out.stack = redactText(value.stack);
    if (value.cause !== undefined) out.cause = walk(value.cause, depth, memo);
  }
  for (const [name, item] of Object.entries(value)) if (!(value instanceof Error) || !(name in out)) put(name, item);
  return out;
}
