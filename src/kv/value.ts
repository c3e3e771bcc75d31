/**
 * Turning bot data into JSON text and back, strictly: a value must come back as it went in.
 *
 * @module
 */
import { KvValueError } from "./errors.js";

/** Largest value accepted, in bytes of its JSON text (UTF-8): 64 KiB. */
export const KV_MAX_VALUE_BYTES = 64 * 1024;
/** Longest key and namespace, in characters. */
export const KV_MAX_KEY_LENGTH = 1024;
/** Deepest nesting accepted (guards the recursive walk). */
const MAX_DEPTH = 100;

type Refusal = { errcode: "KV_NOT_JSON" | "KV_CYCLE"; path: string; what: string };

/**
 * Why `value` is not plain JSON, or `undefined` when it is. Plain JSON means what
 * `JSON.parse(JSON.stringify(v))` gives back unchanged: no `undefined` in arrays, functions,
 * symbols, BigInt, non-finite numbers, class instances (Date, Map…) or cycles. An `undefined`
 * object property is dropped, as JSON does.
 */
function refusal(value: unknown, path: string, ancestors: object[]): Refusal | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : { errcode: "KV_NOT_JSON", path, what: String(value) };
    case "object":
      break;
    default:
      return { errcode: "KV_NOT_JSON", path, what: typeof value };
  }
  if (value === null) return undefined;
  if (ancestors.includes(value)) return { errcode: "KV_CYCLE", path, what: "a reference to itself" };
  if (ancestors.length >= MAX_DEPTH) return { errcode: "KV_NOT_JSON", path, what: `nesting deeper than ${MAX_DEPTH}` };
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const r = refusal(value[i], `${path}[${i}]`, ancestors);
        if (r) return r;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null)
      return { errcode: "KV_NOT_JSON", path, what: `a ${(value as object).constructor?.name ?? "class"} instance` };
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const r = refusal(v, `${path}.${k}`, ancestors);
      if (r) return r;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}

/** The JSON text of a value, or a {@link KvValueError} saying why it can't be stored. */
export function encodeValue(namespace: string, key: string, value: unknown): string {
  if (value === undefined) throw new KvValueError("KV_UNDEFINED", namespace, key, "undefined cannot be stored (use delete)");
  const r = refusal(value, "value", []);
  if (r) throw new KvValueError(r.errcode, namespace, key, `${r.path} is ${r.what}, which is not plain JSON`);
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > KV_MAX_VALUE_BYTES)
    throw new KvValueError("KV_TOO_LARGE", namespace, key, `value is ${bytes} bytes of JSON, more than the ${KV_MAX_VALUE_BYTES} allowed`);
  return text;
}

/** The value of stored JSON text; a {@link KvValueError} when it is not JSON. */
export function decodeValue(namespace: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new KvValueError("KV_CORRUPT", namespace, key, "the stored value is not valid JSON", { cause: error });
  }
}
