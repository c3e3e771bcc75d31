/**
 * HTML → plain text, for the `body` that must accompany every
 * `formatted_body` (clients without HTML support, notifications, search).
 *
 * @module
 */
import { sanitizeHtml, walkHtml } from "./sanitize.js";
import { userIdFromPermalink } from "../ids/links.js";

const BLOCK = new Set([
  "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "table",
  "caption", "details", "summary", "hr",
]);

interface Mark {
  tag: string;
  start: number;
  href?: string;
  spoiler?: string;
}

/**
 * Converts HTML to readable plain text: paragraphs and headings become blank-line
 * separated blocks, `<br>` a newline, list items `- ` / `1. `, blockquotes
 * `> `, table cells tab-separated (the fallback the spec itself suggests), links
 * `text (url)` unless the text already is the url. Pills become their display
 * text, as the mentions module asks. Spoilers are replaced by `[Spoiler]` (or
 * `[Spoiler for <reason>]`) because the spec says the body must not reveal them.
 * The input is sanitised first, so unsafe HTML contributes no text.
 *
 * @example
 * htmlToPlainText("<p>Hi <b>there</b></p><ul><li>a</li><li>b</li></ul>") // "Hi there\n\n- a\n- b"
 */
export function htmlToPlainText(html: string): string {
  let out = "";
  const stack: Mark[] = [];
  const lists: { ordered: boolean; next: number }[] = [];
  let pre = 0;
  let hidden = 0;
  // Position right after a list bullet: a block opening there (a "loose" list
  // item's <p>) must not push its text onto a new line.
  let itemStart = -1;

  // The end of `out` is inspected by hand: a regex anchored with `$` is tried from every
  // position of the whole string, which made each call linear and the conversion quadratic.
  const trailing = (chars: string, max = Infinity): number => {
    let n = 0;
    while (n < max && n < out.length && chars.includes(out[out.length - 1 - n] ?? "")) n++;
    return n;
  };
  const trimEnd = (): void => {
    const n = trailing(" \t");
    if (n > 0) out = out.slice(0, out.length - n);
  };
  const newline = (count: 1 | 2): void => {
    if (out === "" || out.length === itemStart) return;
    trimEnd();
    const have = trailing("\n", count);
    if (have < count) out += "\n".repeat(count - have);
  };

  walkHtml(sanitizeHtml(html), {
    open(tag, attribs) {
      const mark: Mark = { tag, start: out.length };
      stack.push(mark);
      if (hidden > 0) {
        if (tag === "span") hidden++;
        return;
      }
      if (BLOCK.has(tag)) newline(lists.length > 0 && (tag === "ul" || tag === "ol") ? 1 : 2);
      switch (tag) {
        case "pre": pre++; break;
        case "br": trimEnd(); out += "\n"; break;
        case "hr": out += "---"; newline(2); break;
        case "ul": lists.push({ ordered: false, next: 1 }); break;
        case "ol": lists.push({ ordered: true, next: Number(attribs.start ?? "1") }); break;
        case "li": {
          newline(1);
          const list = lists[lists.length - 1];
          const bullet = list?.ordered === true ? `${list.next++}. ` : "- ";
          out += "  ".repeat(Math.max(0, lists.length - 1)) + bullet;
          mark.start = itemStart = out.length;
          break;
        }
        case "a": mark.href = attribs.href; break;
        case "img": out += attribs.alt ?? ""; break;
        case "span":
          if (attribs["data-mx-spoiler"] !== undefined) {
            const reason = attribs["data-mx-spoiler"];
            mark.spoiler = reason === "" ? "[Spoiler]" : `[Spoiler for ${reason}]`;
            hidden = 1;
          }
          break;
      }
    },
    text(text) {
      if (hidden > 0) return;
      if (pre > 0) {
        out += text;
        return;
      }
      let collapsed = text.replace(/\s+/g, " ");
      if (out === "" || /\s/.test(out[out.length - 1] ?? "")) collapsed = collapsed.replace(/^ /, "");
      out += collapsed;
    },
    close(tag) {
      const mark = stack.pop();
      if (mark === undefined) return;
      if (hidden > 0) {
        if (tag === "span") hidden--;
        if (hidden > 0 || mark.spoiler === undefined) return;
        out += mark.spoiler;
        return;
      }
      switch (tag) {
        case "pre": pre--; out = out.slice(0, out.length - trailing("\n")); break;
        case "ul": case "ol": lists.pop(); break;
        case "td": case "th": out += "\t"; break;
        case "tr": if (out.endsWith("\t")) out = out.slice(0, -1); newline(1); break;
        case "li": newline(1); break;
        case "blockquote": {
          const inner = out.slice(mark.start).replace(/^\n+|\s+$/g, "");
          out = out.slice(0, mark.start) + inner.split("\n").map((l) => `> ${l}`.trimEnd()).join("\n");
          break;
        }
        case "a": {
          const text = out.slice(mark.start);
          const href = mark.href;
          if (href === undefined || userIdFromPermalink(href) !== undefined) break;
          const bare = href.replace(/^mailto:/i, "");
          if (text.trim() !== "" && text !== href && text !== bare) out += ` (${href})`;
          else if (text.trim() === "") out += href;
          break;
        }
      }
      if (BLOCK.has(tag)) newline(lists.length > 0 && (tag === "ul" || tag === "ol") ? 1 : 2);
    },
  });
  return out.replace(/\n{3,}/g, "\n\n").trim();
}
