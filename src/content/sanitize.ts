/**
 * HTML sanitising for `formatted_body`, restricted to the subset the Matrix
 * spec tells clients to render (client-server API, "m.room.message msgtypes").
 *
 * We sanitise what we *send*, not only what we receive: the spec asks clients
 * not to emit unsafe or unneeded HTML, and a bot that echoes user input into
 * HTML is an easy injection vector.
 *
 * @module
 */
import type sanitize from "sanitize-html";
import { decodeHtmlEntities } from "../ids/entities.js";
import { lazyModule } from "../util/lazy.js";

// Loaded by the first message that has HTML to clean, not with niobot.
const sanitizeModule = lazyModule<typeof sanitize>("sanitize-html");

/**
 * Every tag the spec suggests permitting. Anything else is dropped (its text is
 * kept, except for the tags in `DROPPED_WITH_CONTENT`).
 *
 * `font` is absent on purpose: it was deprecated in spec v1.10 in favour of
 * `span`, so {@link sanitizeHtml} rewrites it to `span`.
 */
export const ALLOWED_TAGS: readonly string[] = Object.freeze([
  "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub",
  "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead", "tbody",
  "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary",
]);

/**
 * Link schemes allowed in `<a href>`. The spec lists http, https, ftp, mailto and
 * magnet; `matrix` is added because the mentions module asks for "Matrix URIs"
 * in pills, and that term covers both `https://matrix.to/#/…` and `matrix:u/…`.
 */
export const ALLOWED_LINK_SCHEMES: readonly string[] = Object.freeze([
  "https", "http", "ftp", "mailto", "magnet", "matrix",
]);

/**
 * The contents of these tags are dropped along with the tags: their text is
 * not part of the message (scripts, styles, the legacy `mx-reply` fallback that
 * spec v1.13 says to strip, and similar).
 */
const DROPPED_WITH_CONTENT = [
  "script", "style", "textarea", "option", "select", "xmp", "noscript", "noembed", "noframes",
  "iframe", "object", "template", "title", "head", "svg", "math", "mx-reply",
];

/** Spec: "a `#` character followed by a 6-character hex color code". */
const COLOUR = /^#[0-9a-fA-F]{6}$/;
/** mxc://<server-name>/<media-id>; media ids are `[A-Za-z0-9_-]+`. */
const MXC = /^mxc:\/\/[A-Za-z0-9.:[\]-]+\/[A-Za-z0-9_-]+$/;
const INTEGER = /^-?\d{1,9}$/;
const DIMENSION = /^\d{1,5}$/;
const CODE_CLASS = /^language-[A-Za-z0-9_+#.-]+$/;
// Browsers strip leading/trailing C0 controls and spaces, so must we before
// judging the scheme; anything else in front of the scheme means "relative".
const URL_EDGE_JUNK = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g; // eslint-disable-line no-control-regex
const URL_TAB_NEWLINE = /[\t\n\r]/g;
/**
 * Attribute sets of tags to remove. Renaming a tag to a disallowed name would
 * be the obvious way, but sanitize-html then leaves a stale rename behind and
 * mangles the next closing tag at the same depth; marking and filtering in
 * `exclusiveFilter` avoids that.
 */
const REFUSED = new WeakSet<sanitize.Attributes>();

function refused(): sanitize.Attributes {
  const attribs: sanitize.Attributes = {};
  REFUSED.add(attribs);
  return attribs;
}

/**
 * Returns the cleaned `href` if it is absolute and uses an allowed scheme,
 * else `undefined`. Relative and protocol-relative links are refused, as the
 * spec requires a scheme.
 *
 * @example
 * safeLinkHref(" https://example.org ") // "https://example.org"
 * safeLinkHref("javascript:alert(1)")  // undefined
 */
export function safeLinkHref(href: string): string | undefined {
  const cleaned = href.replace(URL_EDGE_JUNK, "").replace(URL_TAB_NEWLINE, "");
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(cleaned)?.[1]?.toLowerCase();
  return scheme !== undefined && ALLOWED_LINK_SCHEMES.includes(scheme) ? cleaned : undefined;
}

function pick(attribs: sanitize.Attributes, name: string, valid: RegExp): string | undefined {
  const value = attribs[name];
  return value !== undefined && valid.test(value.trim()) ? value.trim() : undefined;
}

function assign(target: sanitize.Attributes, name: string, value: string | undefined): void {
  if (value !== undefined) target[name] = value;
}

/**
 * Rebuilds the attribute set from scratch per tag, so only validated values
 * survive. sanitize-html's own allow-lists and scheme checks run afterwards as
 * a second, independent gate.
 */
function transform(tagName: string, attribs: sanitize.Attributes): sanitize.Tag {
  const out: sanitize.Attributes = {};
  switch (tagName) {
    case "a": {
      const href = attribs.href === undefined ? undefined : safeLinkHref(attribs.href);
      // An anchor without a usable target is just text; unwrapping avoids
      // leaving dead `<a>` elements that clients may still style as links.
      if (href === undefined) return { tagName, attribs: refused() };
      out.href = href;
      assign(out, "target", attribs.target);
      return { tagName, attribs: out };
    }
    case "img": {
      const src = pick(attribs, "src", MXC);
      // Non-mxc images would make every reader's client fetch a third-party
      // URL (tracking, IP leaks); keep the alt text so meaning isn't lost.
      if (src === undefined) {
        const alt = attribs.alt?.trim() ?? "";
        return alt === "" ? { tagName, attribs: refused() } : { tagName: "span", attribs: {}, text: alt };
      }
      out.src = src;
      assign(out, "width", pick(attribs, "width", DIMENSION));
      assign(out, "height", pick(attribs, "height", DIMENSION));
      assign(out, "alt", attribs.alt);
      assign(out, "title", attribs.title);
      return { tagName, attribs: out };
    }
    case "ol":
      assign(out, "start", pick(attribs, "start", INTEGER));
      return { tagName, attribs: out };
    case "code": {
      const classes = (attribs.class ?? "").split(/\s+/).filter((c) => CODE_CLASS.test(c));
      if (classes.length > 0) out.class = classes.join(" ");
      return { tagName, attribs: out };
    }
    case "font":
    case "span": {
      const legacy = tagName === "font" ? pick(attribs, "color", COLOUR) : undefined;
      assign(out, "data-mx-color", pick(attribs, "data-mx-color", COLOUR) ?? legacy);
      assign(out, "data-mx-bg-color", pick(attribs, "data-mx-bg-color", COLOUR));
      assign(out, "data-mx-spoiler", attribs["data-mx-spoiler"]);
      assign(out, "data-mx-maths", attribs["data-mx-maths"]);
      return { tagName: "span", attribs: out };
    }
    case "div":
      assign(out, "data-mx-maths", attribs["data-mx-maths"]);
      return { tagName, attribs: out };
    default:
      return { tagName, attribs: out };
  }
}

const OPTIONS: sanitize.IOptions = {
  allowedTags: [...ALLOWED_TAGS],
  allowedAttributes: {
    a: ["href", "target"],
    img: ["src", "width", "height", "alt", "title"],
    ol: ["start"],
    code: ["class"],
    span: ["data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"],
    div: ["data-mx-maths"],
  },
  allowedClasses: { code: ["language-*"] },
  allowedSchemes: [...ALLOWED_LINK_SCHEMES],
  allowedSchemesByTag: { img: ["mxc"] },
  allowedSchemesAppliedToAttributes: ["href", "src"],
  allowProtocolRelative: false,
  nonTextTags: DROPPED_WITH_CONTENT,
  // The spec forbids nesting deeper than 100 levels.
  nestingLimit: 100,
  disallowedTagsMode: "discard",
  parseStyleAttributes: false,
  // Per-tag rather than "*": only per-tag transforms may supply replacement
  // text (the alt text of a refused image).
  // Unwrap refused links (keep their text); drop refused images entirely.
  exclusiveFilter: (frame) => REFUSED.has(frame.attribs) && (frame.tag === "a" ? "excludeTag" : true),
  transformTags: Object.fromEntries([...ALLOWED_TAGS, "font"].map((tag) => [tag, transform])),
};

/**
 * Sanitises HTML to the spec's allowed subset.
 *
 * - Only {@link ALLOWED_TAGS}; script/style/iframe/`mx-reply` (and similar) are
 *   removed with their contents, other unknown tags are unwrapped.
 * - Only the per-tag attributes from the spec: `a[href,target]` (absolute
 *   {@link ALLOWED_LINK_SCHEMES} only), `img[src,width,height,alt,title]`
 *   (`mxc://` only, otherwise replaced by its alt text), `ol[start]`,
 *   `code[class=language-*]`, `span[data-mx-color,data-mx-bg-color,
 *   data-mx-spoiler,data-mx-maths]`, `div[data-mx-maths]`; colours must be
 *   `#rrggbb`.
 * - Deprecated `<font>` becomes `<span>` (its `color` becomes `data-mx-color`).
 *
 * @example
 * sanitizeHtml('<a href="javascript:x" onclick="y">hi</a><script>z</script>') // "hi"
 */
export function sanitizeHtml(html: string): string {
  return sanitizeModule()(html, OPTIONS);
}

/** Extra processing for {@link sanitizeHtmlWithHooks}. */
export interface SanitizeHooks {
  /** Rewrites text nodes; receives and must return *escaped* HTML text. */
  text?: (escapedText: string) => string;
  /** Return true to replace a (valid) link by its text. */
  unwrapLink?: (href: string) => boolean;
}

/**
 * {@link sanitizeHtml} plus hooks, for helpers that must rewrite text or links
 * in the same parse (e.g. neutralising mentions). Not part of the public API.
 *
 * @internal
 */
export function sanitizeHtmlWithHooks(html: string, hooks: SanitizeHooks): string {
  const { text, unwrapLink } = hooks;
  const a = (tagName: string, attribs: sanitize.Attributes): sanitize.Tag => {
    const tag = transform(tagName, attribs);
    const href = tag.attribs.href;
    return tag.tagName === "a" && href !== undefined && unwrapLink?.(href) === true
      ? { tagName, attribs: refused() }
      : tag;
  };
  return sanitizeModule()(html, {
    ...OPTIONS,
    transformTags: { ...OPTIONS.transformTags, a },
    ...(text === undefined ? {} : { textFilter: (escaped: string) => text(escaped) }),
  });
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
};

/**
 * Escapes text for use in HTML text or (quoted) attribute values.
 *
 * @example
 * escapeHtml(`<b>"Tom" & 'Jerry'</b>`) // "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Callbacks for {@link walkHtml}. */
export interface HtmlWalker {
  open?(tag: string, attribs: Readonly<Record<string, string>>): void;
  close?(tag: string): void;
  /** Text with entities already decoded. */
  text?(text: string, enclosingTag: string | undefined): void;
}

const WALK_BASE: sanitize.IOptions = {
  allowedTags: [],
  allowedAttributes: false,
  nonTextTags: [],
  disallowedTagsMode: "discard",
  parseStyleAttributes: false,
};

/**
 * Streams parse events for `html` using sanitize-html's parser (htmlparser2),
 * so callers never have to pattern-match HTML with regexes. Pass
 * already-sanitised HTML if the structure matters: raw input may contain
 * script contents, which would be reported as text.
 */
export function walkHtml(html: string, walker: HtmlWalker): void {
  sanitizeModule()(html, {
    ...WALK_BASE,
    onOpenTag: (name, attribs) => walker.open?.(name, attribs),
    onCloseTag: (name) => walker.close?.(name),
    textFilter: (text, tag) => {
      // sanitize-html passes no tag for top-level text despite its typings.
      walker.text?.(decodeHtmlEntities(text), (tag as string | undefined) || undefined);
      return "";
    },
  });
}
