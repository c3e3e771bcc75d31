/**
 * Markdown → `body` + `formatted_body`.
 *
 * @module
 */
import { Marked } from "marked";
import { ALLOWED_TAGS, escapeHtml, sanitizeHtml, unescapeHtml } from "./sanitize.js";
import { userIdFromPermalink } from "./permalink.js";

/** The two representations of a message: plain `body` and optional HTML. */
export interface RenderedMarkdown {
  body: string;
  /** `undefined` when the message has nothing HTML would add. */
  html: string | undefined;
}

// A private instance so that nobody's `marked.use(...)` elsewhere in the
// process can change what bots send.
const marked = new Marked({
  gfm: true,
  // Bots build messages with template literals and `join("\n")`; in strict
  // CommonMark every single newline would collapse into a space and output
  // would need blank lines or trailing double spaces everywhere. Treat a
  // newline as a line break, like Element and most chat clients do.
  breaks: true,
  async: false,
});
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

// Pills written as inline HTML (e.g. `mentionPill(...).html` inside markdown)
// or as markdown links. In `body` they must appear as their text only.
const HTML_PILL = /<a\s+href\s*=\s*(["'])(.*?)\1\s*>([^<]*)<\/a>/gi;
const MD_PILL = /\[((?:\\.|[^\]\\\n])*)\]\(\s*<?((?:https:\/\/matrix\.to\/#\/|matrix:u\/)[^\s)>]+)>?\s*\)/gi;

function bodyFromSource(md: string): string {
  return md
    .replace(HTML_PILL, (whole, _q: string, href: string, text: string) =>
      userIdFromPermalink(unescapeHtml(href)) === undefined ? whole : unescapeHtml(text))
    .replace(MD_PILL, (whole, text: string, href: string) =>
      userIdFromPermalink(href) === undefined ? whole : text.replace(/\\(.)/g, "$1"));
}

// Both sides go through the sanitiser so entity spelling (`&quot;` vs `"`) and
// `<br>` vs `<br />` don't matter; spaces around line breaks are invisible.
function normalise(html: string): string {
  return sanitizeHtml(html).replace(/[ \t]*<br \/>[ \t]*/g, "<br />").trim();
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
 *
 * @example
 * renderMarkdown("usage: !ban <user>") // { body: "usage: !ban <user>", html: undefined }
 * renderMarkdown("**hi**\nthere")      // { body: "**hi**\nthere", html: "<strong>hi</strong><br />there" }
 */
export function renderMarkdown(md: string): RenderedMarkdown {
  const source = md.replace(/\r\n?/g, "\n");
  const body = bodyFromSource(source);
  let html = dropBlockNewlines(sanitizeHtml(marked.parse(source, { async: false })).trim());
  if (html.startsWith("<p>") && html.endsWith("</p>") && html.indexOf("<p>", 1) === -1) {
    html = html.slice(3, -4).trim();
  }
  const plain = html === "" || normalise(html) === normalise(plainParagraphs(body));
  return { body, html: plain ? undefined : html };
}
