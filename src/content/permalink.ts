/**
 * User IDs and user permalinks (the links that make up mention "pills").
 *
 * @module
 */

const SERVER_NAME = String.raw`(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::\d{1,5})?`;

/**
 * A full user ID, accepting the historical localpart grammar (any printable
 * ASCII except `:`) because such IDs still exist on old servers.
 */
const USER_ID = new RegExp(String.raw`^@[\x21-\x39\x3B-\x7E]+:${SERVER_NAME}$`);

/**
 * A user ID inside free text: modern localpart characters only (historical
 * ones include punctuation that would swallow surrounding prose), not glued to
 * a preceding word (so e-mail addresses don't match), and not preceded by the
 * word joiner that neutralised mentions carry. Upper case is tolerated since
 * people type it.
 */
export const USER_ID_IN_TEXT = new RegExp(
  String.raw`(?<![A-Za-z0-9_@\u2060])@[A-Za-z0-9._=\-/+]+:${SERVER_NAME}`,
  "g",
);

/** Max length of a user ID per the spec (in bytes; ASCII IDs so chars = bytes). */
const MAX_USER_ID_LENGTH = 255;

/**
 * Whether `id` is syntactically a Matrix user ID.
 *
 * @example
 * isUserId("@alice:example.org") // true
 * isUserId("alice")              // false
 */
export function isUserId(id: string): boolean {
  return id.length <= MAX_USER_ID_LENGTH && USER_ID.test(id);
}

/**
 * The matrix.to permalink for a user. Only characters that would be
 * misread inside the fragment are percent-encoded; `@` and `:` stay readable,
 * matching the spec's own examples.
 *
 * @example
 * userPermalink("@alice:example.org") // "https://matrix.to/#/@alice:example.org"
 */
export function userPermalink(userId: string): string {
  return `https://matrix.to/#/${encodeURIComponent(userId).replace(/%40/g, "@").replace(/%3A/gi, ":")}`;
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/**
 * Extracts the user ID from a user permalink, in either form the spec defines
 * (`https://matrix.to/#/@u:s` — optionally percent-encoded — or
 * `matrix:u/u:s`). Returns `undefined` for anything else, including room and
 * event permalinks.
 *
 * @example
 * userIdFromPermalink("https://matrix.to/#/%40alice%3Aexample.org") // "@alice:example.org"
 * userIdFromPermalink("matrix:u/alice:example.org?action=chat")     // "@alice:example.org"
 */
export function userIdFromPermalink(href: string): string | undefined {
  let id: string | undefined;
  const matrixTo = /^https:\/\/matrix\.to\/#\/([^/?]+)/i.exec(href.trim());
  if (matrixTo?.[1] !== undefined) {
    id = decode(matrixTo[1]);
  } else {
    // `user/` is the pre-release spelling of `u/`, which the spec says
    // implementations may still accept.
    const uri = /^matrix:(?:u|user)\/([^/?#]+)/i.exec(href.trim());
    const rest = uri?.[1] === undefined ? undefined : decode(uri[1]);
    id = rest === undefined ? undefined : `@${rest}`;
  }
  return id !== undefined && isUserId(id) ? id : undefined;
}
