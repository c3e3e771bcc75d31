/**
 * HTML character references, decoded. Matrix `formatted_body` text and links carry them; this
 * is the one decoder niobot uses for both untrusted HTML and its own.
 *
 * @module
 */

/**
 * The named references decoded: the ones HTML escaping produces (and their upper-case forms,
 * which HTML also defines), plus `&nbsp;`. Others are left as written.
 */
const NAMED: Readonly<Record<string, string>> = {
  amp: "&",
  AMP: "&",
  lt: "<",
  LT: "<",
  gt: ">",
  GT: ">",
  quot: '"',
  QUOT: '"',
  apos: "'",
  nbsp: "\u00a0",
};

// Every quantifier is bounded and the alternatives start differently: linear on any input.
const REFERENCE = /&(#[xX][0-9a-fA-F]{1,8}|#[0-9]{1,10}|[a-zA-Z]{1,10});/g;

/**
 * Decode HTML character references: the common named ones and every numeric one that names a
 * Unicode scalar value (`&#0;`, surrogates and values past U+10FFFF are left as written).
 *
 * @example
 * decodeHtmlEntities("Tom &amp; Jerry &#x1F600;") // => "Tom & Jerry 😀"
 * decodeHtmlEntities("&bogus; &#0;")              // => "&bogus; &#0;"
 */
export function decodeHtmlEntities(text: string): string {
  return text.replace(REFERENCE, (whole, ref: string) => {
    if (ref[0] !== "#") return NAMED[ref] ?? whole;
    const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    const scalar = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    return scalar ? String.fromCodePoint(code) : whole;
  });
}
