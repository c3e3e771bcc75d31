/**
 * The one type guard for JSON objects read from the wire or from disk.
 *
 * @module
 */

/**
 * Whether `value` is a non-null object that is not an array: what a JSON object parses to.
 *
 * @example
 * isRecord({ a: 1 }) // true
 * isRecord([1])      // false
 * isRecord(null)     // false
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
