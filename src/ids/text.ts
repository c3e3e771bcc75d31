/**
 * User IDs written out in free text ("ping @alice:example.org, please."). A hand-written scan,
 * not a regex: the text is untrusted, and the scan looks at each character a bounded number
 * of times.
 *
 * @module
 */
import { isUserId, isUserIdLocalpartChar } from "./grammar.js";

const WORD_JOINER = 0x2060;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isHexOrSep = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x3a || c === 0x2e;
const isLabelChar = (c: number): boolean => isAlnum(c) || c === 0x2d;

/** In text, upper case is tolerated in a localpart: people type it. */
const isTextLocalpartChar = (c: number): boolean => isUserIdLocalpartChar(c) || (c >= 0x41 && c <= 0x5a);

/**
 * Where a server name written in text starting at `start` ends, or -1 if none starts there.
 * A DNS name is dot-separated labels, so a full stop ending a sentence is not part of it.
 */
function serverNameEnd(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === 0x5b) {
    // `[` IPv6 `]`: at most 45 characters inside, per the grammar.
    const limit = Math.min(text.length, start + 47);
    i++;
    while (i < limit && isHexOrSep(text.charCodeAt(i))) i++;
    if (i === start + 1 || text.charCodeAt(i) !== 0x5d) return -1;
    i++;
  } else {
    if (!isLabelChar(text.charCodeAt(i))) return -1;
    while (isLabelChar(text.charCodeAt(i))) i++;
    while (text.charCodeAt(i) === 0x2e && isLabelChar(text.charCodeAt(i + 1))) {
      i++;
      while (isLabelChar(text.charCodeAt(i))) i++;
    }
  }
  if (text.charCodeAt(i) === 0x3a && isDigit(text.charCodeAt(i + 1))) {
    const portStart = i + 1;
    i = portStart;
    while (i < portStart + 5 && isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}

/**
 * The user IDs written in `text`, in order (duplicates kept). An ID counts when its localpart
 * uses the current grammar's characters (historical punctuation would swallow the prose around
 * it) and its `@` is not glued to a word before it (so e-mail addresses do not count) nor
 * followed-up from a word joiner (the mark of a neutralised mention).
 *
 * @example
 * userIdsInText("ping @alice:example.org, and mail bob@example.org.") // ["@alice:example.org"]
 */
export function userIdsInText(text: string): string[] {
  const out: string[] = [];
  for (let at = text.indexOf("@"); at >= 0; at = text.indexOf("@", at + 1)) {
    const before = at > 0 ? text.charCodeAt(at - 1) : -1;
    if (isAlnum(before) || before === 0x5f || before === 0x40 || before === WORD_JOINER) continue;
    // The localpart run stops at the next `@` at the latest, so runs never overlap.
    let i = at + 1;
    while (isTextLocalpartChar(text.charCodeAt(i))) i++;
    if (i === at + 1 || text.charCodeAt(i) !== 0x3a) continue;
    const end = serverNameEnd(text, i + 1);
    if (end < 0) continue;
    const id = text.slice(at, end);
    if (isUserId(id)) out.push(id);
    at = end - 1;
  }
  return out;
}
