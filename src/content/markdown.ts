/**
 * Markdown → `body` + `formatted_body`.
 *
 * @module
 */
import type { Marked } from "marked";
import { decodeHtmlEntities } from "../ids/entities.js";
import { userIdFromPermalink } from "../ids/links.js";
import { lazyModule } from "../util/lazy.js";
import { ALLOWED_TAGS, escapeHtml, sanitizeHtml } from "./sanitize.js";

/** The two representations of a message: plain `body` and optional HTML. */
export interface RenderedMarkdown {
  body: string;
  /** `undefined` when the message has nothing HTML would add. */
  html: string | undefined;
}

const markedModule = lazyModule<typeof import("marked")>("marked");
let instance: Marked | undefined;

/**
 * The renderer, made on the first message that needs it (marked is not
 * loaded before). A private instance so that nobody's `marked.use(...)`
 * elsewhere in the process can change what bots send.
 */
function markedInstance(): Marked {
  if (instance) return instance;
  const marked = new (markedModule().Marked)({
    gfm: true,
    // Bots build messages with template literals and `join("\n")`; in strict
    // CommonMark every single newline would collapse into a space and output
    // would need blank lines or trailing double spaces everywhere. Treat a
    // newline as a line break, like Element and most chat clients do.
    breaks: true,
    async: false,
  });
  marked.use({
    renderer: {
      html: ({ text, block }) =>
        // An HTML *block* with nothing we would interpret (e.g. a line holding
        // only `<user>`) is really a paragraph of text: keep its line breaks.
        block && !/^\s*<!--/.test(text) && !hasInterpretedTag(text)
          ? `<p>${escapeHtml(text.trim()).replace(/\n/g, "<br />")}</p>`
          : escapeForeignTags(text),
      // `<input>` is not in the spec's allowed tags, so task lists would lose
      // their state; render it as text instead.
      checkbox: ({ checked }) => (checked ? "☑ " : "☐ "),
    },
  });
  return (instance = marked);
}

// CommonMark's definition of an HTML open or closing tag.
const RAW_TAG =
  /<\/?([A-Za-z][A-Za-z0-9-]*)(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*\/?>/g;
const INTERPRETED_TAGS = new Set([...ALLOWED_TAGS, "font"]);

/**
 * Raw HTML in markdown: tags from the spec's list are kept (the sanitiser then
 * vets their attributes); every other tag is shown as typed. Bot text is full
 * of placeholders such as `!ban <user>`, which HTML parsing would drop as an
 * unknown element — and `<title>`, `<option>` or `<script>` would take the rest
 * of the message with them. Escaped, even `<script>` is inert text.
 */
function escapeForeignTags(html: string): string {
  return html.replace(RAW_TAG, (tag, name: string) => (INTERPRETED_TAGS.has(name.toLowerCase()) ? tag : escapeHtml(tag)));
}

function hasInterpretedTag(html: string): boolean {
  return [...html.matchAll(RAW_TAG)].some((m) => INTERPRETED_TAGS.has((m[1] ?? "").toLowerCase()));
}

// Pills written as inline HTML (e.g. `mentionPill(...).html` inside markdown)
// or as markdown links. In `body` they must appear as their text only.
// Both regexes are linear: no run they match can contain the character a match starts with
// (`<`, `[`), so the runs tried from different starts never overlap, and the one run that
// could (the link target) is bounded.
const HTML_PILL = /<a\s+href\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')\s*>([^<]*)<\/a>/gi;
const MD_PILL = /\[((?:\\[^[\n]|[^[\]\\\n])*)\]\(\s*<?((?:https:\/\/matrix\.to\/#\/|matrix:u\/)[^\s)>]{1,1024})>?\s*\)/gi;

function bodyFromSource(md: string): string {
  return md
    .replace(HTML_PILL, (whole, dq: string | undefined, sq: string | undefined, text: string) =>
      userIdFromPermalink(decodeHtmlEntities(dq ?? sq ?? "")) === undefined ? whole : decodeHtmlEntities(text))
    .replace(MD_PILL, (whole, text: string, href: string) =>
      userIdFromPermalink(href) === undefined ? whole : text.replace(/\\(.)/g, "$1"));
}

function isSpaceOrTab(c: string | undefined): boolean {
  return c === " " || c === "\t";
}

// Both sides go through the sanitiser so entity spelling (`&quot;` vs `"`) and
// `<br>` vs `<br />` don't matter; spaces around line breaks are invisible.
// Trimmed by hand: a regex such as `[ \t]*<br \/>` is quadratic on long runs of spaces.
function normalise(html: string): string {
  const parts = sanitizeHtml(html).split("<br />");
  return parts
    .map((part, i) => {
      let start = 0;
      let end = part.length;
      if (i > 0) while (start < end && isSpaceOrTab(part[start])) start++;
      if (i < parts.length - 1) while (end > start && isSpaceOrTab(part[end - 1])) end--;
      return part.slice(start, end);
    })
    .join("<br />")
    .trim();
}

/** What the HTML would be if the markdown held nothing but text paragraphs. */
function plainParagraphs(body: string): string {
  const paragraphs = body.trim().split(/\n{2,}/).map((p) => escapeHtml(p.trim()).replace(/\n/g, "<br />"));
  return paragraphs.length === 1 ? (paragraphs[0] ?? "") : paragraphs.map((p) => `<p>${p}</p>`).join("");
}

// marked puts a newline after every block tag; outside <pre> it is noise
// (the spec asks senders not to emit unneeded HTML).
function dropBlockNewlines(html: string): string {
  return html
    .split(/(<pre[\s\S]*?<\/pre>)/)
    .map((part) => (part.startsWith("<pre") ? part : part.replace(/>\n+(?=<)/g, ">")))
    .join("");
}

/**
 * The longest markdown {@link renderMarkdown} renders, in UTF-16 code units. marked's time
 * grows faster than linearly on some inputs (runs of `a_`, nested quotes), so longer text is
 * sent as plain text instead; echoed user text should use `format: "plain"` anyway.
 */
export const MARKDOWN_MAX_LENGTH = 4_096;
/** The most inline delimiters (`` *_~[]`<!\ ``) rendered markdown may hold; see {@link MARKDOWN_MAX_LENGTH}. */
export const MARKDOWN_MAX_DELIMITERS = 1_024;
/** The deepest nesting of quotes and list items rendered markdown may have (marked recurses per level). */
export const MARKDOWN_MAX_NESTING = 16;

const DELIMITERS = new Set(["*", "_", "~", "[", "]", "`", "<", "!", "\\"]);

/** The container depth a line opens with: `>` quote markers and list bullets. */
function lineNesting(md: string, start: number): { depth: number; next: number } {
  let depth = 0;
  let i = start;
  for (;;) {
    while (md[i] === " " || md[i] === "\t") i++;
    const c = md[i];
    if (c === ">") {
      depth++;
      i++;
      continue;
    }
    let j = i;
    if (c === "-" || c === "*" || c === "+") j++;
    else while (j - i < 9 && md[j] !== undefined && md[j]! >= "0" && md[j]! <= "9") j++;
    if (j > i && (c === "-" || c === "*" || c === "+" || md[j] === "." || md[j] === ")")) {
      if (c !== "-" && c !== "*" && c !== "+") j++;
      if (md[j] === " " || md[j] === "\t") {
        depth++;
        i = j;
        continue;
      }
    }
    return { depth, next: i };
  }
}

/**
 * Whether marked could take long on `md`: too long, too many delimiters or too deep. One
 * linear pass.
 */
function tooComplex(md: string): boolean {
  if (md.length > MARKDOWN_MAX_LENGTH) return true;
  let delimiters = 0;
  let lineStart = true;
  for (let i = 0; i < md.length; i++) {
    if (lineStart) {
      const { depth, next } = lineNesting(md, i);
      if (depth > MARKDOWN_MAX_NESTING) return true;
      // Quote markers and bullets just counted are not inline delimiters.
      i = next;
      lineStart = false;
      if (i >= md.length) break;
    }
    const c = md[i]!;
    if (c === "\n") lineStart = true;
    // Spaces before a line break or at the end: a hard break, or a paragraph the renderer does not trim.
    else if (c === " " && (md[i + 1] === "\n" || i === md.length - 1)) return false;
    else if (DELIMITERS.has(c) && ++delimiters > MARKDOWN_MAX_DELIMITERS) return true;
  }
  return false;
}

/**
 * Renders CommonMark + GFM (tables, strikethrough, autolinks, task lists) to
 * HTML sanitised to the spec's subset (see `sanitizeHtml`). Raw HTML tags
 * in the input are honoured only if the spec allows them (and then go through
 * the sanitiser); any other tag, `<script>` included, is escaped and shown as
 * typed, so `!ban <user>` survives and nothing executable gets out.
 *
 * - `body` is the markdown source itself (markdown is meant to read well as
 *   text, and Element does the same), except that mention pills are replaced
 *   by their display text, as the mentions module asks.
 * - `html` drops the wrapping `<p>` of single-paragraph messages (the spec asks
 *   for no unneeded HTML) and is `undefined` when it would only repeat the
 *   escaped body, so plain messages carry no `formatted_body`.
 * - A single newline is a line break (`<br>`), not a space; see `breaks` above.
 * - Markdown longer than {@link MARKDOWN_MAX_LENGTH}, or with more than
 *   {@link MARKDOWN_MAX_DELIMITERS} delimiters or {@link MARKDOWN_MAX_NESTING}
 *   levels of nesting, is not rendered: it comes back as plain text (`html`
 *   `undefined`), so a hostile echo cannot stall the bot. Render echoed user
 *   text with `format: "plain"`.
 *
 * @example
 * renderMarkdown("usage: !ban <user>") // { body: "usage: !ban <user>", html: undefined }
 * renderMarkdown("**hi**\nthere")      // { body: "**hi**\nthere", html: "<strong>hi</strong><br />there" }
 */
export function renderMarkdown(md: string): RenderedMarkdown {
  // Most bot replies are plain words: no renderer, no sanitiser, nothing loaded.
  if (isPlainText(md)) return { body: md, html: undefined };
  return renderWithMarked(md);
}

/** Characters that may start markdown (or HTML, entities, escapes) anywhere in a line. */
const MARKUP = new Set(["\\", "`", "*", "_", "~", "[", "]", "<", ">", "&", "|", "\r"]);
/** Characters that start a block (heading, list, quote, rule, setext underline, table row or delimiter row like `:-`, code) at a line start. */
const LINE_START = new Set([" ", "\t", "#", "-", "+", "=", ">", "*", "|", "`", "~", ":"]);
const EMAIL_LOCAL = /[A-Za-z0-9._+-]/;
const WHITESPACE = /\s/;

/**
 * Whether `md` certainly renders to nothing but its own text, so the
 * renderer can be skipped: no markup characters, no block syntax at a line
 * start (including `1.`/`1)` list markers and indentation), no spaces
 * before a line break or at the end, no tabs or unusual spaces, and nothing GFM
 * would autolink (`://`, `www.`, `x@y`). One linear pass; `false` only means
 * "render it", so it errs towards false.
 *
 * @internal
 */
export function isPlainText(md: string): boolean {
  let lineStart = true;
  for (let i = 0; i < md.length; i++) {
    const c = md[i]!;
    if (lineStart) {
      lineStart = false;
      if (LINE_START.has(c)) return false;
      let j = i;
      while (j < md.length && j - i < 10 && md[j]! >= "0" && md[j]! <= "9") j++;
      if (j > i && (md[j] === "." || md[j] === ")")) return false;
    }
    if (c === "\n") lineStart = true;
    // Spaces before a line break or at the end: a hard break, or a paragraph the renderer does not trim.
    else if (c === " " && (md[i + 1] === "\n" || i === md.length - 1)) return false;
    else if (MARKUP.has(c)) return false;
    // Tabs, control characters and Unicode spaces: the renderer and `trim()` disagree on some.
    else if (c !== " " && (c < " " || WHITESPACE.test(c))) return false;
    else if (c === ":" && md[i + 1] === "/" && md[i + 2] === "/") return false;
    else if (c === "." && i >= 3 && md.slice(i - 3, i).toLowerCase() === "www") return false;
    else if (c === "@" && i > 0 && EMAIL_LOCAL.test(md[i - 1]!)) return false;
  }
  return true;
}

/**
 * {@link renderMarkdown} without the plain-text shortcut (exported for the
 * test that checks the shortcut agrees with it).
 *
 * @internal
 */
export function renderWithMarked(md: string): RenderedMarkdown {
  const source = md.replace(/\r\n?/g, "\n");
  if (tooComplex(source)) return { body: source, html: undefined };
  const body = bodyFromSource(source);
  let parsed: string;
  try {
    parsed = markedInstance().parse(source, { async: false });
  } catch {
    // marked recurses; should some input still exhaust the stack, plain text is the answer.
    return { body, html: undefined };
  }
  let html = dropBlockNewlines(sanitizeHtml(parsed).trim());
  if (html.startsWith("<p>") && html.endsWith("</p>") && html.indexOf("<p>", 1) === -1) {
    html = html.slice(3, -4).trim();
  }
  const plain = html === "" || normalise(html) === normalise(plainParagraphs(body));
  return { body, html: plain ? undefined : html };
}
